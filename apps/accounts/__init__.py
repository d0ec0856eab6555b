"""Accounts: identity, password, roles, lock-out and erasure (the Django user table is its
inline read model). The module's shape is every module's (docs/architecture.md); its extras:
`auth.py` (DRF authentication against the read model), `login.py` (throttled login and the
lock-out), `management/` (`manage.py create_admin`)."""
