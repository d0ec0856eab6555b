"""Users: profiles, notification preferences and watchlists, born and erased with their
account (reactions.py). The module's shape is every module's (docs/architecture.md); no extras."""
