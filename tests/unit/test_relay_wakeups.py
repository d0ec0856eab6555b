"""What the relay's hook wakes: the readers of each partition that received events, and the
reactions that handle one of the events' types (not every reaction at every publication)."""

from __future__ import annotations

from typing import Any
from unittest import mock

from django.conf import settings

from eventstore.relay import Published
from projections import tasks
from projections.wakeups import STORE_LOG


def topic(module: str) -> str:
    return f"{settings.KAFKA_TOPIC_PREFIX}{module}.events"


def woken_reactions(*published: Published) -> set[str]:
    with mock.patch.object(tasks, "wake_many") as wake_many:
        tasks.on_published(published)
    pairs: list[Any] = wake_many.call_args.args[0]
    return {name for name, t, _p in pairs if t == STORE_LOG}


def test_a_price_change_wakes_the_reaction_that_handles_it_only() -> None:
    woken = woken_reactions(Published(1, topic("products"), 0, 5, "products.PriceChanged"))
    assert woken == {"notifications.reactions"}


def test_an_event_no_reaction_handles_wakes_none() -> None:
    assert woken_reactions(Published(1, topic("products"), 0, 5, "products.Nothing")) == set()


def test_events_of_several_types_wake_each_reaction_that_handles_one() -> None:
    woken = woken_reactions(
        Published(1, topic("orders"), 0, 5, "orders.OrderPlaced"),
        Published(2, topic("accounts"), 1, 9, "accounts.AccountRegistered"),
    )
    assert woken == {"notifications.reactions", "orders.fulfilment", "users.profile_lifecycle"}


def test_an_event_of_unknown_type_wakes_every_reaction_reading_its_topic() -> None:
    woken = woken_reactions(Published(1, topic("orders"), 0, 5))  # (after a recovery)
    assert woken == {"notifications.reactions", "orders.fulfilment"}


def test_the_readers_of_the_partition_are_woken_whatever_the_type() -> None:
    with mock.patch.object(tasks, "wake_many") as wake_many:
        tasks.on_published([Published(1, topic("products"), 2, 5, "products.Nothing")])
    pairs = wake_many.call_args.args[0]
    assert ("products.catalog", topic("products"), 2) in pairs
