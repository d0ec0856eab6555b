"""What callers may ask of the accounts module (imperative, frozen): the messages the command
bus (apps.shared.bus) hands to the handlers in handlers.py. Passwords are `secret()` fields:
commands are fingerprinted for idempotency keys, and a password must not be."""

from __future__ import annotations

from dataclasses import dataclass

from apps.shared.bus import secret


@dataclass(frozen=True)
class RegisterAccount:
    email: str
    password: str = secret()


@dataclass(frozen=True)
class AccountCommand:
    account_id: str

    @property
    def stream_id(self) -> str:
        return self.account_id


@dataclass(frozen=True)
class ChangePassword(AccountCommand):
    old_password: str = secret()
    new_password: str = secret()


@dataclass(frozen=True)
class GrantRole(AccountCommand):
    role: str


@dataclass(frozen=True)
class RevokeRole(AccountCommand):
    role: str


@dataclass(frozen=True)
class LockAccount(AccountCommand):
    reason: str


@dataclass(frozen=True)
class UnlockAccount(AccountCommand):
    pass


@dataclass(frozen=True)
class EraseAccount(AccountCommand):
    """Record the erasure and free the email; the person's key goes in the same transaction
    (handlers.ForgetErasedKeys)."""
