"""The accounts module's facade: what other modules may use besides its events.

Roles map to DRF permissions here, so every module checks roles the same way. The request's
user is a row of the inline user table; its username is the account id.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from rest_framework.permissions import BasePermission

from apps.accounts.models import AccountRecord

__all__ = ["IsAdmin", "IsAuthenticatedAccount", "IsStaff", "account_exists", "account_id_of"]


def account_id_of(user: Any) -> str | None:
    """The account id behind a request's user; None for anonymous users."""
    if user is None or not user.is_authenticated:
        return None
    return str(user.username)


def is_staff(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_superuser)


def account_exists(account_id: str) -> bool:
    """A registered, not erased account."""
    return AccountRecord.objects.filter(account_id=account_id, erased=False).exists()


def email_of(account_id: str) -> str | None:
    """Where to write to the person: None for an unknown or erased account."""
    record = AccountRecord.objects.filter(account_id=account_id, erased=False).first()
    return record.email if record and record.email else None


def staff_account_ids() -> list[str]:
    staff = Q(roles__contains=["staff"]) | Q(roles__contains=["admin"])
    rows = AccountRecord.objects.filter(staff, erased=False, locked=False)
    return list(rows.values_list("account_id", flat=True))


class IsAuthenticatedAccount(BasePermission):
    message = "log in first"

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_active)


class IsStaff(BasePermission):
    message = "only staff may do this"

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_staff(request.user)


class IsAdmin(BasePermission):
    message = "only admins may do this"

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_admin(request.user)
