"""Reads of the notifications module's read models (for mark_all_read in handlers.py)."""

from __future__ import annotations

from apps.notifications.models import InboxEntry


def unread_ids(reader_id: str) -> list[str]:
    """The reader's unread notifications, as the inbox read model knows them."""
    unread = InboxEntry.objects.filter(recipient_id=reader_id, in_inbox=True, read_at__isnull=True)
    return list(unread.values_list("notification_id", flat=True))
