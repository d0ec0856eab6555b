"""Inline projection of account events: Django's user table and AccountRecord, written in the
append's transaction. Django admin, session login and DRF authentication read the user table;
nobody writes it but this (admin changes are commands).

A user row: username = account id, email, password = the hash, is_active = not locked,
is_staff = staff or admin role, is_superuser = admin role. Erasure deletes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model

from apps.accounts.aggregates import STREAM_TYPE
from apps.accounts.events import (
    AccountErased,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    PasswordChanged,
    RoleGranted,
    RoleRevoked,
)
from apps.accounts.models import AccountRecord
from eventstore.events import EventEnvelope


def _registered(e: EventEnvelope, event: AccountRegistered) -> None:
    user_model = get_user_model()
    user_model.objects.create(
        username=event.account_id,
        email=event.email,
        password=event.password_hash,
        **_flags(list(event.roles)),
    )
    AccountRecord.objects.create(
        account_id=event.account_id,
        email=event.email,
        roles=list(event.roles),
        version=e.stream_version,
        registered_at=e.occurred_at,
        updated_at=e.occurred_at,
    )


def _flags(roles: list[str]) -> dict[str, bool]:
    return {"is_staff": "staff" in roles or "admin" in roles, "is_superuser": "admin" in roles}


def _record(e: EventEnvelope, **fields: Any) -> None:
    AccountRecord.objects.filter(account_id=e.stream_id).update(
        version=e.stream_version, updated_at=e.occurred_at, **fields
    )


def _user(e: EventEnvelope, **fields: Any) -> None:
    get_user_model().objects.filter(username=e.stream_id).update(**fields)


def _current(e: EventEnvelope) -> list[str]:
    return list(AccountRecord.objects.get(account_id=e.stream_id).roles)


def _roles(e: EventEnvelope, roles: list[str]) -> None:
    _record(e, roles=roles)
    _user(e, **_flags(roles))


def _erased(e: EventEnvelope) -> None:
    get_user_model().objects.filter(username=e.stream_id).delete()
    _record(e, email="", roles=[], locked=False, lock_reason="", erased=True)


class AccountsInline:
    stream_types = frozenset({STREAM_TYPE})

    def __call__(self, envelopes: Sequence[EventEnvelope]) -> None:
        for e in envelopes:
            event = e.payload
            match event:
                case AccountRegistered():
                    _registered(e, event)
                case PasswordChanged():
                    _record(e)
                    _user(e, password=event.password_hash)
                case RoleGranted():
                    _roles(e, [*_current(e), event.role])
                case RoleRevoked():
                    _roles(e, [r for r in _current(e) if r != event.role])
                case AccountLocked():
                    _record(e, locked=True, lock_reason=event.reason)
                    _user(e, is_active=False)
                case AccountUnlocked():
                    _record(e, locked=False, lock_reason="")
                    _user(e, is_active=True)
                case AccountErased():
                    _erased(e)


project_accounts = AccountsInline()
