"""Email delivery: a side effect on its own queue (`notifications`), run once per event that
asks for a send (created, resent), with the engine's retries and backoff. When the last retry
fails, the notification records NotificationDeliveryFailed: it is the dead letter, listed in
the admin, which resends it."""

from __future__ import annotations

from apps.notifications import services
from apps.notifications.events import NotificationCreated, NotificationResent
from apps.shared.commands import Context
from eventstore.events import EventEnvelope
from eventstore.projection import SideEffect, handles

CTX = Context(actor="notifications.delivery")


class Delivery(SideEffect):
    name = "notifications.delivery"
    topics = ("notifications",)
    queue = "notifications"

    @handles(NotificationCreated, NotificationResent)
    def send_email(self, envelope: EventEnvelope) -> None:
        services.deliver(notification_id=envelope.payload.notification_id, ctx=CTX)

    def failed(self, envelope: EventEnvelope, error: str) -> None:
        services.record_failure(
            notification_id=envelope.payload.notification_id, error=error, ctx=CTX
        )
