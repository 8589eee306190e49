"""Scheduling adapters."""
