"""The accounts module reacts to no other module's events: people register, change their
password, are given roles, locked and erased by commands only (handlers.py)."""
