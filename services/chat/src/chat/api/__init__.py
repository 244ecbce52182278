"""api layer of the chat service."""
