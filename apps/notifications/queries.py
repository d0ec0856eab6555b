"""Reads of the notifications module's read models: the inbox in Postgres, the unread counter
in Redis."""

from __future__ import annotations

from django.db.models import QuerySet
from django_redis import get_redis_connection

from apps.notifications.models import InboxEntry
from apps.notifications.read_models import UnreadCounters


def inbox(reader_id: str) -> QuerySet[InboxEntry]:
    return InboxEntry.objects.filter(recipient_id=reader_id, in_inbox=True)


def unread_ids(reader_id: str) -> list[str]:
    """The reader's unread notifications, as the inbox read model knows them."""
    unread = inbox(reader_id).filter(read_at__isnull=True)
    return list(unread.values_list("notification_id", flat=True))


def unread_count(reader_id: str) -> int:
    raw = get_redis_connection("default").get(UnreadCounters.live().key("unread", reader_id))
    return max(0, int(raw or 0))
