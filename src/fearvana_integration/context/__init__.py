"""Assembling, fitting and rendering a customer's context."""
