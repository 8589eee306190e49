"""Pure pydantic models of the domain; no I/O."""
