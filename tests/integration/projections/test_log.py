"""Reading one partition of the real Kafka log: batches end where the partition ends, found
without waiting out a timeout, also when the same partition is read again at its end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from django.conf import settings

from projections import log

pytestmark = pytest.mark.slow


@pytest.fixture
def topic() -> Iterator[str]:
    name = f"test-log-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    admin.create_topics([NewTopic(name, 2, 1)])[name].result(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for the partition leaders
        meta = admin.list_topics(name, timeout=10).topics[name]
        if meta.partitions and all(p.leader >= 0 for p in meta.partitions.values()):
            break
        time.sleep(0.1)
    yield name
    admin.delete_topics([name])


def produce(topic: str, partition: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    for i in range(count):
        producer.produce(topic, partition=partition, value=f"m{i}".encode())
    assert producer.flush(30) == 0


def timed_read(topic: str, partition: int, offset: int, limit: int) -> tuple[int, bool, float]:
    started = time.monotonic()
    messages, at_end = log.read_to_end(topic, partition, offset, limit)
    assert [m.offset() for m in messages] == list(range(offset, offset + len(messages)))
    return len(messages), at_end, time.monotonic() - started


def test_reads_stop_at_the_end_of_the_partition_without_waiting_out_the_timeout(
    topic: str,
) -> None:
    produce(topic, 0, 5)
    assert timed_read(topic, 0, 0, 1000)[:2] == (5, True)
    assert timed_read(topic, 0, 0, 3)[:2] == (3, False)  # the limit came first
    assert timed_read(topic, 0, 3, 1000)[:2] == (2, True)
    for _ in range(3):
        # Read again at its end (a second wake-up for work already done): the read must
        # still finish at once, not wait out its timeout.
        count, at_end, seconds = timed_read(topic, 0, 5, 1000)
        assert (count, at_end) == (0, True)
        assert seconds < 2.0, f"an empty read took {seconds:.1f}s"
    assert timed_read(topic, 1, 0, 1000)[:2] == (0, True)  # an empty partition
    produce(topic, 0, 2)
    assert timed_read(topic, 0, 5, 1000)[:2] == (2, True)
