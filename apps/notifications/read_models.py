"""The notifications module's read models.

- `notifications.inbox` (Postgres): every notification and its delivery status; those for the
  inbox channel are the person's in-app inbox.
- `notifications.unread` (Redis): `<ns>:unread:<account id>`, the unread count.
Erasure (AccountErased) purges a person from both; the inbox keeps a tombstone of the
erased id so a notification applied late (another topic) is not filed for them.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.events import AccountErased
from apps.notifications.events import (
    NotificationCreated,
    NotificationDelivered,
    NotificationDeliveryFailed,
    NotificationRead,
    NotificationResent,
)
from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, RedisProjection, handles


class Inbox(PostgresProjection):
    name = "notifications.inbox"
    topics = ("notifications", "accounts")
    tables = ("notifications_inbox", "notifications_inbox_erased")

    def setup(self, cur: Any) -> None:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS notifications_inbox_erased (account_id text PRIMARY KEY)"
        )

    @handles(NotificationCreated)
    def _created(self, cur: Any, e: EventEnvelope) -> None:
        p: NotificationCreated = e.payload
        cur.execute(
            "INSERT INTO notifications_inbox (notification_id, recipient_id, kind, subject, body, "
            "status, in_inbox, created_at, read_at) "
            "SELECT %s, %s, %s, %s, %s, 'pending', %s, %s, NULL "
            "WHERE NOT EXISTS (SELECT 1 FROM notifications_inbox_erased WHERE account_id = %s) "
            "ON CONFLICT (notification_id) DO NOTHING",
            [
                p.notification_id,
                p.recipient_id,
                p.kind,
                p.subject,
                p.body,
                "inbox" in p.channels,
                e.occurred_at,
                p.recipient_id,
            ],
        )

    @handles(NotificationDelivered, NotificationDeliveryFailed, NotificationResent)
    def _status(self, cur: Any, e: EventEnvelope) -> None:
        status = {
            NotificationDelivered: "delivered",
            NotificationDeliveryFailed: "failed",
            NotificationResent: "pending",
        }[type(e.payload)]
        cur.execute(
            "UPDATE notifications_inbox SET status = %s WHERE notification_id = %s",
            [status, e.payload.notification_id],
        )

    @handles(NotificationRead)
    def _read(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "UPDATE notifications_inbox SET read_at = %s WHERE notification_id = %s",
            [e.occurred_at, e.payload.notification_id],
        )

    @handles(AccountErased)
    def _erased(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute("DELETE FROM notifications_inbox WHERE recipient_id = %s", [e.stream_id])
        cur.execute(
            "INSERT INTO notifications_inbox_erased VALUES (%s) ON CONFLICT DO NOTHING",
            [e.stream_id],
        )


class UnreadCounters(RedisProjection):
    name = "notifications.unread"
    topics = ("notifications", "accounts")

    @handles(NotificationCreated)
    def _created(self, pipe: Any, e: EventEnvelope) -> None:
        if "inbox" in e.payload.channels:
            pipe.incr(self.key("unread", e.payload.recipient_id))

    @handles(NotificationRead)
    def _read(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.decr(self.key("unread", e.payload.recipient_id))

    @handles(AccountErased)
    def _erased(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.delete(self.key("unread", e.stream_id))
