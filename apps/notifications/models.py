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
