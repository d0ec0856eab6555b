"""What callers may ask of the notifications module (imperative, frozen): the messages the
command bus (apps.shared.bus) hands to the handlers in handlers.py. A command that changes a
notification names its stream (`stream_id`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Notify:
    """Tell a person of an event; the notification's id derives from (event, person, kind), so
    a second Notify for the same ones finds it made (ConcurrencyError) and makes nothing."""

    recipient_id: str
    kind: str
    subject: str
    body: str
    channels: tuple[str, ...]
    source_event_id: str


@dataclass(frozen=True)
class NotificationCommand:
    notification_id: str

    @property
    def stream_id(self) -> str:
        return self.notification_id


@dataclass(frozen=True)
class RecordDelivery(NotificationCommand):
    """The outcome of an email send (recorded only while the notification is pending)."""

    outcome: Literal["delivered", "failed"]
    error: str = ""


@dataclass(frozen=True)
class Resend(NotificationCommand):
    pass


@dataclass(frozen=True)
class MarkRead(NotificationCommand):
    reader_id: str
