"""The Account aggregate: identity, password, roles, lock state and erasure. Pure Python.

Passwords are hashed and checked by a `Hasher` passed in (Django's hashers in the service,
a fake in unit tests), so the rule "the old password is required" stays here.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from apps.accounts.events import (
    ROLES,
    AccountErased,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    PasswordChanged,
    RoleGranted,
    RoleRevoked,
)
from apps.shared.errors import DomainError, InvalidCommand
from eventstore.aggregate import Aggregate, applies

STREAM_TYPE = "accounts.Account"


class Hasher(Protocol):
    def make(self, raw: str) -> str: ...

    def check(self, raw: str, encoded: str) -> bool: ...


class AccountErasedError(DomainError):
    status = 410
    code = "erased"


class WrongPassword(InvalidCommand):
    status = 400
    code = "wrong_password"


class Account(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE
    snapshots: ClassVar[bool] = False  # the state holds the email and password hash

    email: str = ""
    password_hash: str = ""
    roles: list[str] = []  # noqa: RUF012 - copied per instance by Aggregate
    locked: bool = False
    lock_reason: str = ""
    erased: bool = False

    @classmethod
    def register(cls, account_id: str, *, email: str, password: str, hasher: Hasher) -> Account:
        account = cls(account_id)
        account._record(
            AccountRegistered(
                account_id=account_id,
                email=email,
                password_hash=hasher.make(password),
                roles=("customer",),
            )
        )
        return account

    def _check_live(self) -> None:
        if self.erased:
            raise AccountErasedError(f"account {self.id} is erased")

    def change_password(self, *, old_password: str, new_password: str, hasher: Hasher) -> None:
        self._check_live()
        if not hasher.check(old_password, self.password_hash):
            raise WrongPassword("the old password is wrong")
        self._record(PasswordChanged(account_id=self.id, password_hash=hasher.make(new_password)))

    def grant_role(self, role: str) -> None:
        self._check_live()
        if role not in ROLES:
            raise InvalidCommand(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        if role in self.roles:
            raise DomainError(f"account already has the role {role!r}")
        self._record(RoleGranted(account_id=self.id, role=role))

    def revoke_role(self, role: str) -> None:
        self._check_live()
        if role not in self.roles:
            raise DomainError(f"account does not have the role {role!r}")
        self._record(RoleRevoked(account_id=self.id, role=role))

    def lock(self, reason: str) -> None:
        self._check_live()
        if self.locked:
            raise DomainError("account is already locked")
        self._record(AccountLocked(account_id=self.id, reason=reason))

    def unlock(self) -> None:
        self._check_live()
        if not self.locked:
            raise DomainError("account is not locked")
        self._record(AccountUnlocked(account_id=self.id))

    def erase(self) -> None:
        self._check_live()
        self._record(AccountErased(account_id=self.id))

    @property
    def email_key(self) -> str:
        return normalized_email(self.email)

    # -- appliers

    @applies(AccountRegistered)
    def _registered(self, event: AccountRegistered) -> None:
        self.email = event.email
        self.password_hash = event.password_hash
        self.roles = list(event.roles)

    @applies(PasswordChanged)
    def _password_changed(self, event: PasswordChanged) -> None:
        self.password_hash = event.password_hash

    @applies(RoleGranted)
    def _role_granted(self, event: RoleGranted) -> None:
        self.roles = [*self.roles, event.role]

    @applies(RoleRevoked)
    def _role_revoked(self, event: RoleRevoked) -> None:
        self.roles = [r for r in self.roles if r != event.role]

    @applies(AccountLocked)
    def _locked(self, event: AccountLocked) -> None:
        self.locked = True
        self.lock_reason = event.reason

    @applies(AccountUnlocked)
    def _unlocked(self, event: AccountUnlocked) -> None:
        self.locked = False
        self.lock_reason = ""

    @applies(AccountErased)
    def _erased(self, event: AccountErased) -> None:
        self.erased = True
        self.email = ""
        self.password_hash = ""
        self.roles = []


def normalized_email(email: str) -> str:
    """Emails are unique case-insensitively: this is the form compared."""
    return email.strip().casefold()
