"""data.clients layer of the chat service."""
