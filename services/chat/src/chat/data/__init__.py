"""data layer of the chat service."""
