"""The notifications module's read models.

- `notifications.audience` (Postgres): who watches which product, and each person's
  preferences, from users events (notifications builds its own, it reads no other module's).
- `notifications.inbox` (Postgres): every notification and its delivery status; those for the
  inbox channel are the person's in-app inbox.
- `notifications.unread` (Redis): `<ns>:unread:<account id>`, the unread count.
Erasure (AccountErased) purges a person from all three; the inbox keeps a tombstone of the
erased id so a notification applied late (another topic) is not filed for them.
"""

from __future__ import annotations

import json
from typing import Any

from apps.accounts.events import AccountErased
from apps.notifications.events import (
    NotificationCreated,
    NotificationDelivered,
    NotificationDeliveryFailed,
    NotificationRead,
    NotificationResent,
)
from apps.users.events import (
    NotificationPreferencesChanged,
    ProductUnwatched,
    ProductWatched,
    ProfileCreated,
    ProfileErased,
)
from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, RedisProjection, handles


class Audience(PostgresProjection):
    name = "notifications.audience"
    topics = ("users", "accounts")
    tables = ("notifications_watcher", "notifications_preference")
    pipelined = True

    @handles(ProfileCreated, NotificationPreferencesChanged)
    def _preferences(self, cur: Any, e: EventEnvelope) -> None:
        p = e.payload
        cur.execute(
            "INSERT INTO notifications_preference (account_id, kinds, channels) "
            "VALUES (%s, %s, %s) ON CONFLICT (account_id) DO UPDATE SET kinds = EXCLUDED.kinds, "
            "channels = EXCLUDED.channels",
            [p.profile_id, json.dumps(list(p.kinds)), json.dumps(list(p.channels))],
        )

    @handles(ProductWatched)
    def _watched(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "INSERT INTO notifications_watcher (product_id, account_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING",
            [e.payload.product_id, e.payload.profile_id],
        )

    @handles(ProductUnwatched)
    def _unwatched(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "DELETE FROM notifications_watcher WHERE product_id = %s AND account_id = %s",
            [e.payload.product_id, e.payload.profile_id],
        )

    @handles(ProfileErased, AccountErased)
    def _erased(self, cur: Any, e: EventEnvelope) -> None:
        person = getattr(e.payload, "account_id", None) or e.payload.profile_id
        cur.execute("DELETE FROM notifications_watcher WHERE account_id = %s", [person])
        cur.execute("DELETE FROM notifications_preference WHERE account_id = %s", [person])


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
