"""Timeouts, deadlines (and, later, breakers and caching) applied in one place to every source call."""
