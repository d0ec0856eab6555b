"""Accounts for API tests, made through the real commands (and profiles, as the reaction
would make them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import commands as accounts
from apps.shared.bus import dispatch
from apps.users import commands as users

PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    account_id: str
    email: str
    password: str = PASSWORD

    @property
    def user(self) -> Any:
        return get_user_model().objects.get(username=self.account_id)

    def client(self) -> APIClient:
        client = APIClient(SERVER_NAME="localhost")
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(self.user).access_token}"
        )
        return client

    def refresh_token(self) -> str:
        return str(RefreshToken.for_user(self.user))


def person(*roles: str, profile: bool = True, email: str | None = None) -> Person:
    email = email or f"p-{uuid.uuid4().hex[:10]}@example.com"
    result = dispatch(accounts.RegisterAccount(email=email, password=PASSWORD))
    for role in roles:
        dispatch(accounts.GrantRole(account_id=result.stream_id, role=role))
    if profile:
        dispatch(users.CreateProfile(profile_id=result.stream_id))
    return Person(result.stream_id, email)


def anonymous() -> APIClient:
    return APIClient(SERVER_NAME="localhost")
