"""models layer of the memory service."""
