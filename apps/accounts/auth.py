"""Authentication backend: log in with the account's email (any case) and password.

It reads the user table (the inline projection) and never writes it: Django's own
`User.check_password` would re-hash and save on a hasher upgrade, bypassing the events.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import check_password, make_password
from django.http import HttpRequest


class EmailBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        **kwargs: Any,
    ) -> Any:
        email = email or username
        if not email or password is None:
            return None
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            make_password(password)  # the same work as a real check: no timing oracle
            return None
        if check_password(password, user.password) and self.user_can_authenticate(user):
            return user
        return None


def find_user(email: str) -> Any:
    """The user with this email (any case), active or not; None if there is none."""
    return get_user_model().objects.filter(email__iexact=email.strip()).first()
