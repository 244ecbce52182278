"""services layer of the memory service."""
