"""models layer of the chat service."""
