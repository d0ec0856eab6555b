"""Email delivery: a side effect on its own queue (`notifications`), run once per event that
asks for a send (created, resent), with the engine's retries and backoff. When the last retry
fails, the notification records NotificationDeliveryFailed: it is the dead letter, listed in
the admin, which resends it.

The send happens before the record, so a crash between them sends again on retry (at least
once, never lost)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from apps.accounts.public import email_of
from apps.notifications.aggregates import Notification
from apps.notifications.commands import RecordDelivery
from apps.notifications.events import NotificationCreated, NotificationResent
from apps.shared import bus
from apps.shared.bus import Context
from eventstore.events import EventEnvelope
from eventstore.projection import SideEffect, handles
from eventstore.queues import Queue

CTX = Context(actor="notifications.delivery")


def deliver(notification_id: str) -> str:
    """Email a pending notification and record it delivered; its status after."""
    notification = bus.current().load(Notification, notification_id)
    if notification.status != "pending" or not notification.emailed:
        return notification.status
    address = email_of(notification.recipient_id)
    if not address:
        error = "the recipient has no address"
        bus.dispatch(RecordDelivery(notification_id, "failed", error), CTX)
        return "failed"
    send_mail(
        notification.subject,
        notification.body,
        settings.DEFAULT_FROM_EMAIL,
        [address],
        fail_silently=False,
    )
    bus.dispatch(RecordDelivery(notification_id, "delivered"), CTX)
    return "delivered"


class Delivery(SideEffect):
    name = "notifications.delivery"
    topics = ("notifications",)
    queue = Queue.NOTIFICATIONS

    @handles(NotificationCreated, NotificationResent)
    def send_email(self, envelope: EventEnvelope) -> None:
        deliver(envelope.payload.notification_id)

    def failed(self, envelope: EventEnvelope, error: str) -> None:
        bus.dispatch(RecordDelivery(envelope.payload.notification_id, "failed", error), CTX)
