"""Countdowns the broker can hold: whole seconds with quorum queues, never earlier than asked."""

from __future__ import annotations

import pytest

from eventstore.queues import broker_countdown


@pytest.mark.parametrize(
    ("asked", "sent"),
    [(None, None), (0, None), (-1.0, None), (0.05, 1.0), (0.5, 1.0), (1.0, 1.0), (5.5, 5.5)],
)
def test_a_fraction_of_a_second_waits_one_second_and_no_wait_is_none(
    asked: float | None, sent: float | None
) -> None:
    assert broker_countdown(asked) == sent


def test_celery_refuses_a_fraction_of_a_second_on_quorum_queues() -> None:
    """Why broker_countdown exists: the delayed-delivery routing key is built from whole
    seconds, and below one there is none."""
    from kombu.transport.native_delayed_delivery import calculate_routing_key

    with pytest.raises(ValueError, match="positive"):
        calculate_routing_key(int(0.5), "default")
    assert calculate_routing_key(int(broker_countdown(0.5) or 0), "default").endswith(".default")
