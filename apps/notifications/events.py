"""The notifications module's published language. Stdlib only. Notifications carry no personal
data (the address is looked up when an email is sent), so erasure only purges the inbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class NotificationCreated:
    event_type: ClassVar[str] = "notifications.NotificationCreated"
    schema_version: ClassVar[int] = 1

    notification_id: str
    recipient_id: str
    kind: str
    subject: str
    body: str
    channels: tuple[str, ...]
    source_event_id: str


@dataclass(frozen=True)
class NotificationDelivered:
    event_type: ClassVar[str] = "notifications.NotificationDelivered"
    schema_version: ClassVar[int] = 1

    notification_id: str
    recipient_id: str
    channel: str


@dataclass(frozen=True)
class NotificationDeliveryFailed:
    """The last retry failed: the notification waits for a resend (the dead letter)."""

    event_type: ClassVar[str] = "notifications.NotificationDeliveryFailed"
    schema_version: ClassVar[int] = 1

    notification_id: str
    recipient_id: str
    error: str


@dataclass(frozen=True)
class NotificationResent:
    event_type: ClassVar[str] = "notifications.NotificationResent"
    schema_version: ClassVar[int] = 1

    notification_id: str
    recipient_id: str


@dataclass(frozen=True)
class NotificationRead:
    event_type: ClassVar[str] = "notifications.NotificationRead"
    schema_version: ClassVar[int] = 1

    notification_id: str
    recipient_id: str
