"""Talking to the upstream web chats. Depends on the core model and requests only."""
