"""Logging, redaction (and, later, audit and metrics)."""
