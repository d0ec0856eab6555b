"""Every projection test starts from empty read models positioned at the end of the log (earlier
tests' events are skipped), with the test switches (poison fix, v2) off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from tests.support.engine import PG, REDIS, fast_forward, own_log

TOTALS = "tests.ledger_totals"

SWITCHES = ("poison-fixed", "ledger-v2")


def _switches_off() -> None:
    client = get_redis_connection("default")
    client.delete(*(f"{settings.REDIS_KEY_PREFIX}:{s}" for s in SWITCHES))
    for pattern in ("queued:*", "dirty:*", "follower*"):  # flags of tasks purged below
        for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:proj:{pattern}"):
            client.delete(key)


def _purge_queues() -> None:
    """Drop task messages earlier tests left in this run's vhost (e.g. relay wake-ups nobody
    consumed), so a worker started here only works for this test."""
    from config.celery import app

    with app.connection_for_write() as conn:
        for name in settings.TASK_QUEUE_NAMES:
            queue = app.amqp.queues[name].bind(conn.default_channel)
            queue.declare()  # as the project declares it (a quorum queue)
            queue.purge()


@pytest.fixture(autouse=True)
def fresh_read_models(transactional_db: None) -> Iterator[None]:
    _purge_queues()
    _switches_off()
    for name in (PG, REDIS, TOTALS):
        fast_forward(name)
    yield
    _switches_off()


@pytest.fixture
def own_topics() -> Iterator[str]:
    """For a test that rebuilds from offset 0: topics of its own (see own_log)."""
    with own_log() as prefix:
        yield prefix
