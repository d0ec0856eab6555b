"""Command handlers of the notifications module."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from apps.accounts.public import email_of
from apps.notifications import commands as c
from apps.notifications.aggregates import Notification
from apps.notifications.models import InboxEntry
from apps.shared.commands import Context, create, repository, update
from apps.shared.errors import DomainError
from eventstore.commands import CommandResult
from eventstore.errors import ConcurrencyError


class NotYours(DomainError):
    status = 404
    code = "not_found"


def notify(
    *,
    recipient_id: str,
    kind: str,
    subject: str,
    body: str,
    channels: tuple[str, ...],
    source_event_id: str,
    ctx: Context,
) -> CommandResult | None:
    """Create the notification for (event, person, kind) once; None if it exists already."""
    notification = Notification.create(
        recipient_id=recipient_id,
        kind=kind,
        subject=subject,
        body=body,
        channels=channels,
        source_event_id=source_event_id,
    )
    try:
        return create(notification, ctx=ctx, command=c.Notify(notification.id))
    except ConcurrencyError:
        return None


def deliver(*, notification_id: str, ctx: Context) -> str:
    """Email a pending notification and record it delivered. The send happens before the
    record, so a crash between them sends again on retry (at least once, never lost)."""
    notification = repository(Notification).load(notification_id)
    if notification.status != "pending" or not notification.emailed:
        return notification.status
    address = email_of(notification.recipient_id)
    if not address:
        record_failure(
            notification_id=notification_id, error="the recipient has no address", ctx=ctx
        )
        return "failed"
    send_mail(
        notification.subject,
        notification.body,
        settings.DEFAULT_FROM_EMAIL,
        [address],
        fail_silently=False,
    )
    update(
        Notification,
        notification_id,
        lambda n: n.delivered() if n.status == "pending" else None,
        ctx=ctx,
        command=c.RecordDelivery(notification_id, "delivered"),
    )
    return "delivered"


def record_failure(*, notification_id: str, error: str, ctx: Context) -> None:
    update(
        Notification,
        notification_id,
        lambda n: n.delivery_failed(error) if n.status == "pending" else None,
        ctx=ctx,
        command=c.RecordDelivery(notification_id, "failed"),
    )


def resend(*, notification_id: str, ctx: Context) -> CommandResult:
    return update(
        Notification,
        notification_id,
        lambda n: n.resend(),
        ctx=ctx,
        command=c.Resend(notification_id),
    )


def mark_read(*, notification_id: str, reader_id: str, ctx: Context) -> CommandResult:
    def act(n: Notification) -> None:
        if n.recipient_id != reader_id:
            raise NotYours(f"no notification {notification_id}")
        n.mark_read()

    return update(Notification, notification_id, act, ctx=ctx, command=c.MarkRead(notification_id))


def mark_all_read(*, reader_id: str, ctx: Context) -> list[CommandResult]:
    """Every unread notification of the reader's inbox (as the inbox read model knows it)."""
    unread = InboxEntry.objects.filter(recipient_id=reader_id, in_inbox=True, read_at__isnull=True)
    return [
        mark_read(notification_id=entry.notification_id, reader_id=reader_id, ctx=ctx)
        for entry in unread.only("notification_id")
    ]
