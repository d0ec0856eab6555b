"""The Notification aggregate: created -> delivered | failed -> resent; read."""

from __future__ import annotations

import pytest

from apps.notifications.aggregates import Notification, notification_id_for
from apps.notifications.events import (
    NotificationCreated,
    NotificationDelivered,
    NotificationDeliveryFailed,
    NotificationRead,
    NotificationResent,
)
from apps.shared.errors import DomainError, InvalidCommand
from tests.support.given import given, recorded

WHO, EVENT = "acc-1", "evt-1"
NID = notification_id_for(EVENT, WHO, "welcome")
CREATED = NotificationCreated(
    notification_id=NID,
    recipient_id=WHO,
    kind="welcome",
    subject="Hi",
    body="Welcome",
    channels=("email", "inbox"),
    source_event_id=EVENT,
)


def test_the_same_event_person_and_kind_give_the_same_notification_id() -> None:
    n = Notification.create(
        recipient_id=WHO,
        kind="welcome",
        subject="Hi",
        body="Welcome",
        channels=("email", "inbox"),
        source_event_id=EVENT,
    )
    assert n.id == NID and recorded(n) == [CREATED]
    assert notification_id_for(EVENT, "acc-2", "welcome") != NID


def test_create_refuses_unknown_kinds_and_channels() -> None:
    with pytest.raises(InvalidCommand):
        Notification.create(
            recipient_id=WHO,
            kind="spam",
            subject="",
            body="",
            channels=("email",),
            source_event_id=EVENT,
        )
    with pytest.raises(InvalidCommand):
        Notification.create(
            recipient_id=WHO,
            kind="welcome",
            subject="",
            body="",
            channels=("sms",),
            source_event_id=EVENT,
        )


def test_delivered_once() -> None:
    n = given(Notification, NID, CREATED)
    n.delivered()
    assert recorded(n) == [
        NotificationDelivered(notification_id=NID, recipient_id=WHO, channel="email")
    ]
    with pytest.raises(DomainError, match="delivered, not pending"):
        n.delivered()


def test_a_failed_delivery_can_be_resent_and_then_delivered() -> None:
    n = given(Notification, NID, CREATED)
    with pytest.raises(DomainError, match="only a failed"):
        n.resend()
    n.delivery_failed("SMTP down")
    n.resend()
    n.delivered()
    assert recorded(n) == [
        NotificationDeliveryFailed(notification_id=NID, recipient_id=WHO, error="SMTP down"),
        NotificationResent(notification_id=NID, recipient_id=WHO),
        NotificationDelivered(notification_id=NID, recipient_id=WHO, channel="email"),
    ]


def test_read_is_recorded_once_and_only_for_inbox_notifications() -> None:
    n = given(Notification, NID, CREATED)
    n.mark_read()
    n.mark_read()
    assert recorded(n) == [NotificationRead(notification_id=NID, recipient_id=WHO)]
    email_only = given(
        Notification,
        NID,
        NotificationCreated(
            notification_id=NID,
            recipient_id=WHO,
            kind="welcome",
            subject="",
            body="",
            channels=("email",),
            source_event_id=EVENT,
        ),
    )
    with pytest.raises(InvalidCommand, match="not in the inbox"):
        email_only.mark_read()
