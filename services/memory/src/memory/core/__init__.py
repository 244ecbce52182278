"""core layer of the memory service."""
