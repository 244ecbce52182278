"""``agent-chat``: the console client of the chat service (docs/clients.md)."""
