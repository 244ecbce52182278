"""services layer of the chat service."""
