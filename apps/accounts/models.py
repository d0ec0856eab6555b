"""The accounts read model kept inside the append transaction (with Django's user table).

Strongly consistent on purpose: who may log in, and with which roles, must be true the moment
the command returns. Only `read_models.project_accounts` writes these rows.
"""

from __future__ import annotations

from django.db import models


class AccountRecord(models.Model):
    account_id = models.CharField(primary_key=True, max_length=64)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    roles = models.JSONField(default=list)
    locked = models.BooleanField(default=False)
    lock_reason = models.CharField(max_length=200, blank=True)
    erased = models.BooleanField(default=False)
    version = models.IntegerField()
    registered_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "accounts_account"
        ordering = ("-registered_at",)
        verbose_name = "account"

    def __str__(self) -> str:
        return self.email or f"erased account {self.account_id}"
