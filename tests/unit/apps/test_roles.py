"""The accounts facade's reading of a request's user: who it is, and what its roles allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from apps.accounts.public import (
    IsAdmin,
    IsAuthenticatedAccount,
    IsStaff,
    account_id_of,
    is_admin,
    is_staff,
)


@dataclass
class User:
    username: str = "acc-1"
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False


@dataclass
class Request:
    user: Any


ANONYMOUS = User(username="", is_authenticated=False, is_active=False)
LOCKED = User(is_active=False)


def test_the_account_id_is_the_authenticated_users_name_and_nobody_elses() -> None:
    assert account_id_of(User()) == "acc-1"
    assert account_id_of(ANONYMOUS) is None
    assert account_id_of(None) is None


@pytest.mark.parametrize(
    ("user", "account", "staff", "admin"),
    [
        (User(), True, False, False),
        (User(is_staff=True), True, True, False),
        (User(is_staff=True, is_superuser=True), True, True, True),
        (LOCKED, False, False, False),
        (User(is_staff=True, is_superuser=True, is_active=False), False, False, False),
        (ANONYMOUS, False, False, False),
    ],
)
def test_each_permission_needs_an_active_authenticated_account_with_its_role(
    user: User, account: bool, staff: bool, admin: bool
) -> None:
    request: Any = Request(user)
    assert IsAuthenticatedAccount().has_permission(request, None) is account
    assert IsStaff().has_permission(request, None) is staff and is_staff(user) is staff
    assert IsAdmin().has_permission(request, None) is admin and is_admin(user) is admin
