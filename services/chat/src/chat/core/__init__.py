"""core layer of the chat service."""
