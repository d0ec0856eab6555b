"""The Notification aggregate: created -> delivered | failed (-> resent -> ...) ; read. Pure."""

from __future__ import annotations

import uuid
from typing import ClassVar

from apps.notifications.events import (
    NotificationCreated,
    NotificationDelivered,
    NotificationDeliveryFailed,
    NotificationRead,
    NotificationResent,
)
from apps.shared.errors import DomainError, InvalidCommand
from eventstore.aggregate import Aggregate, applies

STREAM_TYPE = "notifications.Notification"
KINDS = ("welcome", "price_drop", "low_stock", "order")
CHANNELS = ("email", "inbox")
_NAMESPACE = uuid.UUID("4f6c1b0e-8f1e-4e57-9d1e-7f3b2a9c5d10")


def notification_id_for(source_event_id: str, recipient_id: str, kind: str) -> str:
    """One notification per (event, person, kind): a reaction run twice makes the same id,
    and the second append finds the stream taken."""
    return str(uuid.uuid5(_NAMESPACE, f"{source_event_id}:{recipient_id}:{kind}"))


class Notification(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE

    recipient_id: str = ""
    kind: str = ""
    subject: str = ""
    body: str = ""
    channels: list[str] = []  # noqa: RUF012 - copied per instance by Aggregate
    status: str = "pending"  # pending | delivered | failed
    read: bool = False
    attempts: int = 0

    @classmethod
    def create(
        cls,
        *,
        recipient_id: str,
        kind: str,
        subject: str,
        body: str,
        channels: tuple[str, ...],
        source_event_id: str,
    ) -> Notification:
        if kind not in KINDS:
            raise InvalidCommand(f"unknown notification kind {kind!r}")
        if not channels or set(channels) - set(CHANNELS):
            raise InvalidCommand(f"channels must be some of {', '.join(CHANNELS)}")
        notification_id = notification_id_for(source_event_id, recipient_id, kind)
        n = cls(notification_id)
        n._record(
            NotificationCreated(
                notification_id=notification_id,
                recipient_id=recipient_id,
                kind=kind,
                subject=subject[:200],
                body=body[:2000],
                channels=channels,
                source_event_id=source_event_id,
            )
        )
        return n

    @property
    def emailed(self) -> bool:
        return "email" in self.channels

    def delivered(self) -> None:
        if self.status != "pending":
            raise DomainError(f"notification {self.id} is {self.status}, not pending")
        self._record(
            NotificationDelivered(
                notification_id=self.id, recipient_id=self.recipient_id, channel="email"
            )
        )

    def delivery_failed(self, error: str) -> None:
        if self.status != "pending":
            raise DomainError(f"notification {self.id} is {self.status}, not pending")
        self._record(
            NotificationDeliveryFailed(
                notification_id=self.id, recipient_id=self.recipient_id, error=error[:500]
            )
        )

    def resend(self) -> None:
        if self.status != "failed":
            raise DomainError(f"only a failed notification is resent; this one is {self.status}")
        self._record(NotificationResent(notification_id=self.id, recipient_id=self.recipient_id))

    def mark_read(self) -> None:
        if "inbox" not in self.channels:
            raise InvalidCommand("this notification is not in the inbox")
        if not self.read:
            self._record(NotificationRead(notification_id=self.id, recipient_id=self.recipient_id))

    # -- appliers

    @applies(NotificationCreated)
    def _created(self, e: NotificationCreated) -> None:
        self.recipient_id, self.kind, self.channels = e.recipient_id, e.kind, list(e.channels)
        self.subject, self.body = e.subject, e.body

    @applies(NotificationDelivered)
    def _delivered(self, e: NotificationDelivered) -> None:
        self.status = "delivered"

    @applies(NotificationDeliveryFailed)
    def _failed(self, e: NotificationDeliveryFailed) -> None:
        self.status = "failed"
        self.attempts += 1

    @applies(NotificationResent)
    def _resent(self, e: NotificationResent) -> None:
        self.status = "pending"

    @applies(NotificationRead)
    def _read(self, e: NotificationRead) -> None:
        self.read = True
