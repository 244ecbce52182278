"""data layer of the memory service."""
