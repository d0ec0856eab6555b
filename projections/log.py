"""Reading one partition of the Kafka event log from an offset (no consumer group: the engine
keeps its own checkpoints). One consumer per worker process, reassigned per catch-up."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from django.conf import settings

_local = threading.local()


def consumer() -> Consumer:
    existing: Consumer | None = getattr(_local, "consumer", None)
    if existing is None:
        existing = Consumer(
            {
                "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
                "group.id": "projections",  # required by librdkafka; offsets are never committed
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "fetch.min.bytes": 1,
                "fetch.wait.max.ms": 10,
                "queued.max.messages.kbytes": 65536,
            }
        )
        _local.consumer = existing
    return existing


def log_end(topic: str, partition: int) -> int:
    _low, high = consumer().get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    return int(high)


def read(
    topic: str, partition: int, offset: int, limit: int, timeout: float = 10.0
) -> list[Message]:
    """Up to `limit` messages from `offset` on; fewer when the partition ends first."""
    c = consumer()
    c.assign([TopicPartition(topic, partition, offset)])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < limit and time.monotonic() < deadline:
            # Short waits: consume() holds out for the whole count until its timeout.
            for msg in c.consume(num_messages=min(limit - len(messages), 10000), timeout=0.05):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return messages
                    raise KafkaException(error)
                messages.append(msg)
    finally:
        c.unassign()
    return messages[:limit]


def header(msg: Message, name: str) -> str | None:
    for item in msg.headers() or []:
        if item[0] == name:
            value = item[1]
            return value.decode() if isinstance(value, bytes) else None
    return None


def headers(msg: Message) -> dict[str, Any]:
    return {
        item[0]: item[1].decode() if isinstance(item[1], bytes) else item[1]
        for item in msg.headers() or []
    }
