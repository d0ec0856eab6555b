"""The accounts module's published language: what happened to an account.

Other modules may import these (and nothing else of accounts but `public`). Stdlib only. The
email and the password hash are personal data: serialized events hold them encrypted with the
account's key (eventstore.personal), which erasure deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

ROLES = ("customer", "staff", "admin")


@dataclass(frozen=True)
class AccountRegistered:
    event_type: ClassVar[str] = "accounts.AccountRegistered"
    schema_version: ClassVar[int] = 1
    personal_data: ClassVar[tuple[str, ...]] = ("email", "password_hash")
    data_subject: ClassVar[str] = "account_id"

    account_id: str
    email: str
    password_hash: str
    roles: tuple[str, ...] = ("customer",)


@dataclass(frozen=True)
class PasswordChanged:
    event_type: ClassVar[str] = "accounts.PasswordChanged"
    schema_version: ClassVar[int] = 1
    personal_data: ClassVar[tuple[str, ...]] = ("password_hash",)
    data_subject: ClassVar[str] = "account_id"

    account_id: str
    password_hash: str


@dataclass(frozen=True)
class RoleGranted:
    event_type: ClassVar[str] = "accounts.RoleGranted"
    schema_version: ClassVar[int] = 1

    account_id: str
    role: str


@dataclass(frozen=True)
class RoleRevoked:
    event_type: ClassVar[str] = "accounts.RoleRevoked"
    schema_version: ClassVar[int] = 1

    account_id: str
    role: str


@dataclass(frozen=True)
class AccountLocked:
    event_type: ClassVar[str] = "accounts.AccountLocked"
    schema_version: ClassVar[int] = 1

    account_id: str
    reason: str


@dataclass(frozen=True)
class AccountUnlocked:
    event_type: ClassVar[str] = "accounts.AccountUnlocked"
    schema_version: ClassVar[int] = 1

    account_id: str


@dataclass(frozen=True)
class AccountErased:
    """The person asked to be forgotten: their key is deleted, read models purge them."""

    event_type: ClassVar[str] = "accounts.AccountErased"
    schema_version: ClassVar[int] = 1

    account_id: str
