"""The project talks to the real Postgres, Redis and Kafka."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_redis import get_redis_connection


@pytest.mark.django_db
def test_migrations_are_applied_to_the_real_postgres_test_database() -> None:
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    with connection.cursor() as cur:
        cur.execute("SELECT current_database(), version()")
        db, version = cur.fetchone()
        cur.execute("SELECT count(*) FROM django_migrations")
        (applied,) = cur.fetchone()
    assert db == settings.DATABASES["default"]["TEST"]["NAME"]
    assert version.startswith("PostgreSQL")
    assert applied > 0


def test_cache_set_and_get_go_through_the_real_redis_with_the_run_prefix() -> None:
    key, value = f"k-{uuid.uuid4()}", {"n": 1, "s": "ü"}
    cache.set(key, value, timeout=60)
    assert cache.get(key) == value
    raw = get_redis_connection("default")
    stored = [k.decode() for k in raw.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*{key}")]
    assert len(stored) == 1
    assert raw.connection_pool.connection_kwargs["db"] == settings.REDIS_DB
    cache.delete(key)
    assert cache.get(key) is None


def test_kafka_round_trip_keeps_bytes_key_and_partition() -> None:
    topic = next(iter(settings.KAFKA_TOPICS))
    key = f"stream-{uuid.uuid4()}".encode()
    payload = bytes(range(256)) + "événement".encode()
    delivered: list[tuple[int, int]] = []

    def on_delivery(err: object, msg: object) -> None:
        assert err is None, err
        delivered.append((msg.partition(), msg.offset()))  # type: ignore[attr-defined]

    producer = Producer(
        {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, "enable.idempotence": True}
    )
    for _ in range(2):
        producer.produce(topic, key=key, value=payload, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert len(delivered) == 2
    (partition, first_offset), (partition_again, second_offset) = delivered
    assert partition == partition_again, "same key must land in the same partition"
    assert second_offset == first_offset + 1

    consumer = Consumer(
        {
            "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, partition, first_offset)])
        msg = None
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None:
                break
        assert msg is not None and msg.error() is None
        assert msg.value() == payload
        assert msg.key() == key
        assert msg.partition() == partition
        assert msg.offset() == first_offset
    finally:
        consumer.close()
