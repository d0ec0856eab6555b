"""Tables of the notifications read models (written only by read_models.py's projections)."""

from __future__ import annotations

from django.db import models


class InboxEntry(models.Model):
    """Every notification (the admin resends failed ones); `in_inbox` ones are the person's
    in-app inbox."""

    notification_id = models.CharField(primary_key=True, max_length=64)
    recipient_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=16, default="pending")
    in_inbox = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "notifications_inbox"
        verbose_name = "inbox entry"
        verbose_name_plural = "inbox"
        indexes = [models.Index(fields=["recipient_id", "created_at", "notification_id"])]

    def __str__(self) -> str:
        return self.subject


class Watcher(models.Model):
    """Who watches which product: notifications' own copy, built from users events."""

    product_id = models.CharField(max_length=64)
    account_id = models.CharField(max_length=64)

    class Meta:
        db_table = "notifications_watcher"
        constraints = [
            models.UniqueConstraint(fields=["product_id", "account_id"], name="watch_once")
        ]
        indexes = [models.Index(fields=["account_id"])]

    def __str__(self) -> str:
        return f"{self.account_id} watches {self.product_id}"


class Preference(models.Model):
    """Which kinds of notification a person wants, on which channels (from users events)."""

    account_id = models.CharField(primary_key=True, max_length=64)
    kinds = models.JSONField(default=list)
    channels = models.JSONField(default=list)

    class Meta:
        db_table = "notifications_preference"

    def __str__(self) -> str:
        return self.account_id
