"""What callers may ask of the accounts module (imperative, frozen). Passwords never appear
here: commands are fingerprinted for idempotency keys, and a password must not be."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegisterAccount:
    email_key: str


@dataclass(frozen=True)
class ChangePassword:
    account_id: str


@dataclass(frozen=True)
class GrantRole:
    account_id: str
    role: str


@dataclass(frozen=True)
class RevokeRole:
    account_id: str
    role: str


@dataclass(frozen=True)
class LockAccount:
    account_id: str
    reason: str


@dataclass(frozen=True)
class UnlockAccount:
    account_id: str


@dataclass(frozen=True)
class EraseAccount:
    account_id: str
