"""The products module reacts to no other module's events yet: its stock and prices change by
commands only (handlers.py)."""
