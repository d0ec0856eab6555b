"""The notifications module's command handlers, and their table (`HANDLERS`, read by the
command bus: apps.shared.bus). A handler takes the command, and the notification it changes; it
records events through the aggregate or raises a DomainError."""

from __future__ import annotations

from apps.notifications import commands as c
from apps.notifications import queries
from apps.notifications.aggregates import Notification
from apps.shared import bus
from apps.shared.bus import Changes, Context, Creates, HandlerTable, New
from apps.shared.errors import DomainError
from eventstore.idempotency import CommandResult


class NotYours(DomainError):
    status = 404
    code = "not_found"


def notify(cmd: c.Notify) -> New[Notification]:
    return New(
        Notification.create(
            recipient_id=cmd.recipient_id,
            kind=cmd.kind,
            subject=cmd.subject,
            body=cmd.body,
            channels=cmd.channels,
            source_event_id=cmd.source_event_id,
        )
    )


def record_delivery(cmd: c.RecordDelivery, notification: Notification) -> None:
    if notification.status != "pending":
        return
    if cmd.outcome == "delivered":
        notification.delivered()
    else:
        notification.delivery_failed(cmd.error)


def resend(cmd: c.Resend, notification: Notification) -> None:
    notification.resend()


def mark_read(cmd: c.MarkRead, notification: Notification) -> None:
    if notification.recipient_id != cmd.reader_id:
        raise NotYours(f"no notification {cmd.notification_id}")
    notification.mark_read()


HANDLERS: HandlerTable = {
    c.Notify: Creates(notify),
    c.RecordDelivery: Changes(Notification, record_delivery),
    c.Resend: Changes(Notification, resend),
    c.MarkRead: Changes(Notification, mark_read),
}


def mark_all_read(reader_id: str, ctx: Context) -> list[CommandResult]:
    """Not in the table (it spans notifications): MarkRead, through the bus, for every
    notification of the reader's inbox that the inbox read model knows unread."""
    return [bus.dispatch(c.MarkRead(i, reader_id), ctx) for i in queries.unread_ids(reader_id)]
