"""CRM adapters."""
