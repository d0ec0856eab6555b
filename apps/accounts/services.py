"""Command handlers of the accounts module: typed, keyword-only, one per command."""

from __future__ import annotations

import hashlib
import uuid

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction

from apps.accounts.aggregates import Account, normalized_email
from apps.accounts.commands import (
    ChangePassword,
    EraseAccount,
    GrantRole,
    LockAccount,
    RegisterAccount,
    RevokeRole,
    UnlockAccount,
)
from apps.shared.commands import Context, create, update
from eventstore import personal
from eventstore.commands import CommandResult
from eventstore.store import Claim, Release

EMAIL_SCOPE = "accounts.email"


class DjangoHasher:
    def make(self, raw: str) -> str:
        return make_password(raw)

    def check(self, raw: str, encoded: str) -> bool:
        return check_password(raw, encoded)


def email_reservation(email: str) -> str:
    """The reserved value for an email: a digest, so the reservation table holds no address."""
    return hashlib.sha256(normalized_email(email).encode()).hexdigest()


def register_account(*, email: str, password: str, ctx: Context) -> CommandResult:
    account = Account.register(
        str(uuid.uuid4()), email=email.strip(), password=password, hasher=DjangoHasher()
    )
    return create(
        account,
        ctx=ctx,
        command=RegisterAccount(email_key=normalized_email(email)),
        reservations=[Claim(EMAIL_SCOPE, email_reservation(email))],
    )


def change_password(
    *, account_id: str, old_password: str, new_password: str, ctx: Context
) -> CommandResult:
    return update(
        Account,
        account_id,
        lambda a: a.change_password(
            old_password=old_password, new_password=new_password, hasher=DjangoHasher()
        ),
        ctx=ctx,
        command=ChangePassword(account_id),
    )


def grant_role(*, account_id: str, role: str, ctx: Context) -> CommandResult:
    return update(
        Account,
        account_id,
        lambda a: a.grant_role(role),
        ctx=ctx,
        command=GrantRole(account_id, role),
    )


def revoke_role(*, account_id: str, role: str, ctx: Context) -> CommandResult:
    return update(
        Account,
        account_id,
        lambda a: a.revoke_role(role),
        ctx=ctx,
        command=RevokeRole(account_id, role),
    )


def lock_account(*, account_id: str, reason: str, ctx: Context) -> CommandResult:
    return update(
        Account,
        account_id,
        lambda a: a.lock(reason),
        ctx=ctx,
        command=LockAccount(account_id, reason),
    )


def unlock_account(*, account_id: str, ctx: Context) -> CommandResult:
    return update(
        Account, account_id, lambda a: a.unlock(), ctx=ctx, command=UnlockAccount(account_id)
    )


def erase_account(*, account_id: str, ctx: Context) -> CommandResult:
    """Record the erasure, free the email and delete the person's key, in one transaction: from
    its commit no stored event of theirs can be read in clear."""

    def act(account: Account) -> list[Release]:
        held = email_reservation(account.email)
        account.erase()
        return [Release(EMAIL_SCOPE, held)]

    with transaction.atomic():
        result = update(Account, account_id, act, ctx=ctx, command=EraseAccount(account_id))
        personal.forget(account_id)
    return result
