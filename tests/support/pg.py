"""Helpers for tests against the real Postgres event store and Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from django.conf import settings
from django.db import connection

from eventstore.postgres import PostgresEventStore
from eventstore.store import InlineProjection
from tests.support.ledger import registry

ROOT = Path(__file__).resolve().parents[2]


def events_topic() -> str:
    return f"{settings.KAFKA_TOPIC_PREFIX}accounts.events"


def pg_store(inline_projections: Sequence[InlineProjection] = ()) -> PostgresEventStore:
    return PostgresEventStore(
        registry(), topics=defaultdict(events_topic), inline_projections=inline_projections
    )


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a process that must use this test run's database."""
    return {**os.environ, "POSTGRES_DB": connection.settings_dict["NAME"], **extra}


def start_relay(
    log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "relay", *args],
            cwd=ROOT,
            env=child_env(**(env or {})),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def outbox_counts() -> tuple[int, int]:
    """(published, total) rows of the outbox: published = recorded in a relay batch."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT coalesce(sum(cardinality(outbox_ids)), 0) FROM es_relay_batch), "
            "(SELECT count(*) FROM es_outbox)"
        )
        published, total = cur.fetchone()
    return int(published), int(total)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def consume_all(topic: str, timeout: float = 60.0) -> list[Any]:
    """Every message of the topic, partition by partition, from the beginning to the end."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
            "group.id": "tests-consume-all",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        assign = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, low))
        messages: list[Any] = []
        if not assign:
            return messages
        consumer.assign(assign)
        remaining = set(ends)
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            partition, offset, error = msg.partition() or 0, msg.offset() or 0, msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(partition)
                    continue
                raise AssertionError(error)
            messages.append(msg)
            if offset + 1 >= ends[partition]:
                remaining.discard(partition)
        assert not remaining, f"could not read partitions {remaining} to the end"
        return messages
    finally:
        consumer.close()
