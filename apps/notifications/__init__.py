"""Notifications: who is told what (reactions.py decides on other modules' events), the inbox,
and email. The module's shape is every module's (docs/architecture.md); its extra:
`delivery.py` (the email side effect, with retries)."""
