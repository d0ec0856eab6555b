"""Task messages read back off a RabbitMQ queue, for tests of how tasks are sent."""

from __future__ import annotations

import json
from typing import Any

from celery import current_app

TASK = "tests.sent_together"  # no worker runs it: the test reads the queue


def delete_queue(queue: str) -> None:
    with current_app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        channel.queue_delete(queue)


def delivered(queue: str) -> list[int]:
    """The first argument of every task message in `queue`, taken off it."""
    found = []
    with current_app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            args, _kwargs, _embed = json.loads(message.body)
            found.append(args[0])
    return found
