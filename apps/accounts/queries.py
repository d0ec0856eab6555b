"""Reads of the accounts module's read model (AccountRecord, kept in the append's
transaction), for its API."""

from __future__ import annotations

from apps.accounts.models import AccountRecord


def account(account_id: str) -> AccountRecord | None:
    """An account not erased."""
    return AccountRecord.objects.filter(account_id=account_id, erased=False).first()
