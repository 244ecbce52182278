"""api layer of the memory service."""
