"""The accounts module's command handlers, and their table (`HANDLERS`, read by the command
bus: apps.shared.bus). A handler takes the command, and the account it changes; it records
events through the aggregate or raises a DomainError. Passwords are hashed by Django's hashers.

`ForgetErasedKeys` runs inside the append's transaction (config/wiring.py registers it with the
store): an erasure and the loss of the person's key commit together, so from that commit no
stored event of theirs can be read in clear.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from django.contrib.auth.hashers import check_password, make_password

from apps.accounts import commands as c
from apps.accounts.aggregates import STREAM_TYPE, Account, normalized_email
from apps.accounts.events import AccountErased
from apps.shared.bus import Changes, Creates, HandlerTable, New
from eventstore import personal
from eventstore.events import EventEnvelope
from eventstore.store import Claim, Release

EMAIL_SCOPE = "accounts.email"


class DjangoHasher:
    def make(self, raw: str) -> str:
        return make_password(raw)

    def check(self, raw: str, encoded: str) -> bool:
        return check_password(raw, encoded)


HASHER = DjangoHasher()


def email_reservation(email: str) -> str:
    """The reserved value for an email: a digest, so the reservation table holds no address."""
    return hashlib.sha256(normalized_email(email).encode()).hexdigest()


def register_account(cmd: c.RegisterAccount) -> New[Account]:
    account = Account.register(
        str(uuid.uuid4()), email=cmd.email.strip(), password=cmd.password, hasher=HASHER
    )
    return New(account, [Claim(EMAIL_SCOPE, email_reservation(cmd.email))])


def change_password(cmd: c.ChangePassword, account: Account) -> None:
    account.change_password(
        old_password=cmd.old_password, new_password=cmd.new_password, hasher=HASHER
    )


def grant_role(cmd: c.GrantRole, account: Account) -> None:
    account.grant_role(cmd.role)


def revoke_role(cmd: c.RevokeRole, account: Account) -> None:
    account.revoke_role(cmd.role)


def lock_account(cmd: c.LockAccount, account: Account) -> None:
    account.lock(cmd.reason)


def unlock_account(cmd: c.UnlockAccount, account: Account) -> None:
    account.unlock()


def erase_account(cmd: c.EraseAccount, account: Account) -> list[Release]:
    held = email_reservation(account.email)
    account.erase()
    return [Release(EMAIL_SCOPE, held)]


HANDLERS: HandlerTable = {
    c.RegisterAccount: Creates(register_account),
    c.ChangePassword: Changes(Account, change_password),
    c.GrantRole: Changes(Account, grant_role),
    c.RevokeRole: Changes(Account, revoke_role),
    c.LockAccount: Changes(Account, lock_account),
    c.UnlockAccount: Changes(Account, unlock_account),
    c.EraseAccount: Changes(Account, erase_account),
}


class ForgetErasedKeys:
    """An inline step of the store: deletes an erased person's key with the erasure."""

    stream_types = frozenset({STREAM_TYPE})

    def __call__(self, envelopes: Sequence[EventEnvelope]) -> None:
        for envelope in envelopes:
            if isinstance(envelope.payload, AccountErased):
                personal.forget(envelope.stream_id)
