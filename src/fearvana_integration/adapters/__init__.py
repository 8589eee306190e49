"""Provider adapters: one module per vendor, registered in :mod:`.registry`."""
