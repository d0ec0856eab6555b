"""The Account aggregate: given events, a command, the events it records or the error."""

from __future__ import annotations

import pytest

from apps.accounts.aggregates import Account, AccountErasedError, WrongPassword
from apps.accounts.events import (
    AccountErased,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    PasswordChanged,
    RoleGranted,
    RoleRevoked,
)
from apps.shared.errors import DomainError, InvalidCommand
from tests.support.given import given, recorded

ID = "0b7c6a1e-0000-4000-8000-000000000001"


class FakeHasher:
    def make(self, raw: str) -> str:
        return f"hashed:{raw}"

    def check(self, raw: str, encoded: str) -> bool:
        return encoded == f"hashed:{raw}"


H = FakeHasher()
REGISTERED = AccountRegistered(
    account_id=ID, email="ada@example.com", password_hash="hashed:pw", roles=("customer",)
)


def test_register_records_the_hashed_password_and_the_customer_role() -> None:
    account = Account.register(ID, email="ada@example.com", password="pw", hasher=H)
    assert recorded(account) == [REGISTERED]
    assert account.version == 1 and account.roles == ["customer"]


def test_change_password_needs_the_old_password() -> None:
    account = given(Account, ID, REGISTERED)
    account.change_password(old_password="pw", new_password="new", hasher=H)
    assert recorded(account) == [PasswordChanged(account_id=ID, password_hash="hashed:new")]


def test_change_password_with_a_wrong_old_password_is_refused() -> None:
    account = given(Account, ID, REGISTERED)
    with pytest.raises(WrongPassword):
        account.change_password(old_password="nope", new_password="new", hasher=H)
    assert recorded(account) == []


def test_grant_role_records_it_and_refuses_unknown_or_held_roles() -> None:
    account = given(Account, ID, REGISTERED)
    account.grant_role("staff")
    assert recorded(account) == [RoleGranted(account_id=ID, role="staff")]
    with pytest.raises(DomainError, match="already has"):
        account.grant_role("staff")
    with pytest.raises(InvalidCommand, match="unknown role"):
        account.grant_role("emperor")


def test_revoke_role_records_it_and_refuses_a_role_not_held() -> None:
    account = given(Account, ID, REGISTERED, RoleGranted(account_id=ID, role="admin"))
    account.revoke_role("admin")
    assert recorded(account) == [RoleRevoked(account_id=ID, role="admin")]
    assert account.roles == ["customer"]
    with pytest.raises(DomainError, match="does not have"):
        account.revoke_role("admin")


def test_lock_and_unlock_alternate() -> None:
    account = given(Account, ID, REGISTERED)
    account.lock("suspicious")
    assert recorded(account) == [AccountLocked(account_id=ID, reason="suspicious")]
    with pytest.raises(DomainError, match="already locked"):
        account.lock("again")
    locked = given(Account, ID, REGISTERED, AccountLocked(account_id=ID, reason="x"))
    locked.unlock()
    assert recorded(locked) == [AccountUnlocked(account_id=ID)]
    with pytest.raises(DomainError, match="not locked"):
        given(Account, ID, REGISTERED).unlock()


def test_erase_records_it_and_forgets_the_state() -> None:
    account = given(Account, ID, REGISTERED, RoleGranted(account_id=ID, role="staff"))
    account.erase()
    assert recorded(account) == [AccountErased(account_id=ID)]
    assert account.email == "" and account.password_hash == "" and account.roles == []


@pytest.mark.parametrize(
    "command",
    [
        lambda a: a.change_password(old_password="pw", new_password="x", hasher=H),
        lambda a: a.grant_role("staff"),
        lambda a: a.revoke_role("customer"),
        lambda a: a.lock("x"),
        lambda a: a.unlock(),
        lambda a: a.erase(),
    ],
)
def test_an_erased_account_refuses_every_command(command) -> None:  # type: ignore[no-untyped-def]
    account = given(Account, ID, REGISTERED, AccountErased(account_id=ID))
    with pytest.raises(AccountErasedError):
        command(account)
    assert recorded(account) == []


def test_accounts_are_never_snapshotted() -> None:
    """A snapshot would keep the email in clear, beyond the reach of crypto-shredding."""
    assert Account.snapshots is False
