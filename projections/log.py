"""Reading the Kafka event log. A catch-up task reads one partition from an offset (one consumer
per worker process, reassigned per catch-up, outside any consumer group); the followers read as
members of one consumer group, which shares the partitions among them. Neither commits offsets:
the engine keeps its own checkpoints, beside the read models."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from django.conf import settings

_local = threading.local()
REASSIGN_AFTER = 0.2  # seconds without any fetch result


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
                # A fetch at the end of the partition waits this long on the broker, and a new
                # assignment waits behind it: short, because catch-ups switch partitions often.
                "fetch.wait.max.ms": 1,
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
    return read_to_end(topic, partition, offset, limit, timeout)[0]


def release() -> None:
    """Drop an assignment a `keep=True` read left in place."""
    if getattr(_local, "assigned", None) is not None:
        _local.assigned = None
        consumer().unassign()


def read_to_end(
    topic: str,
    partition: int,
    offset: int,
    limit: int,
    timeout: float = 10.0,
    *,
    keep: bool = False,
) -> tuple[list[Message], bool]:
    """Up to `limit` messages from `offset` on, and whether they reach the partition's end.

    The end is known without a watermark query: each fetch brings the partition's high
    watermark (read from the consumer's cache), and a fetch past it brings an end-of-partition
    event."""
    c = consumer()
    tp = TopicPartition(topic, partition)
    if getattr(_local, "assigned", None) != (topic, partition, offset):
        # (A keep=True read that stopped right here left the partition assigned and its next
        # messages prefetched: carry on with them.)
        c.assign([TopicPartition(topic, partition, offset)])
    _local.assigned = None
    assigned_at = time.monotonic()
    messages: list[Message] = []
    deadline = assigned_at + timeout
    done = False
    try:
        while len(messages) < limit and time.monotonic() < deadline:
            # Wait for one message only (consume() holds out for the whole count until its
            # timeout), then take what else has arrived without waiting.
            first = c.consume(num_messages=1, timeout=0.005)
            if not first:
                # Nothing yet: ask the broker where the partition ends. (Without this, reads in
                # worker processes were seen to get neither a message nor an end-of-partition
                # event for seconds, after rapid reassignments.)
                _low, high = c.get_watermark_offsets(tp, timeout=5)
                if offset + len(messages) >= high:
                    return messages, True
                if not messages and time.monotonic() - assigned_at > REASSIGN_AFTER:
                    # Data is there but no fetch came back: assign again.
                    c.assign([TopicPartition(topic, partition, offset)])
                    assigned_at = time.monotonic()
                continue
            wanted = min(limit - len(messages) - 1, 10000)
            arrived = c.consume(num_messages=wanted, timeout=0) if wanted > 0 else []
            for msg in (*first, *arrived):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done = True
                        return messages, True
                    raise KafkaException(error)
                expected = offset + len(messages)
                if msg.topic() != topic or msg.partition() != partition or msg.offset() != expected:
                    raise KafkaException(
                        f"{topic}[{partition}]: expected offset {expected}, got "
                        f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
                    )
                messages.append(msg)
            if messages:
                _low, high = c.get_watermark_offsets(tp, cached=True)
                if high >= 0 and (messages[-1].offset() or 0) + 1 >= high:
                    done = True
                    return messages, True
        return messages, False
    finally:
        if keep and not done and messages:
            _local.assigned = (topic, partition, offset + len(messages))
        else:
            c.unassign()


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


# The followers' consumer (projections.follower): a member of their consumer group.


def follower_group() -> str:
    """The followers' consumer group (under the topics' prefix: one group per deployment)."""
    return f"{settings.KAFKA_TOPIC_PREFIX}projections-followers"


def group_consumer() -> Consumer:
    """A follower's consumer: a member of the followers' group, the partitions shared by
    cooperative-sticky assignment (a rebalance moves only what must move). Offsets are never
    committed: the checkpoints in the read models' stores say where each projection is."""
    session = settings.PROJECTIONS_FOLLOW_SESSION_TIMEOUT_MS
    config: dict[str, Any] = {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "group.id": follower_group(),
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": session,
        # A member hears of a rebalance at its next heartbeat, and a cooperative one takes two
        # rounds: partitions moved to a new follower stood still for two intervals at
        # session // 4 (1.5 s each by default); at session // 12 they stand still for about one.
        "heartbeat.interval.ms": max(100, min(1000, session // 12)),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.min.bytes": 1,
        # A long poll: the broker holds an empty fetch this long and answers as soon as an
        # event arrives (the catch-up consumer polls every millisecond).
        "fetch.wait.max.ms": 500,
        "queued.max.messages.kbytes": 65536,
    }
    if settings.PROJECTIONS_FOLLOW_INSTANCE_ID:
        config["group.instance.id"] = settings.PROJECTIONS_FOLLOW_INSTANCE_ID
    return Consumer(config)


def poll(consumer: Consumer, timeout: float, most: int) -> list[Message]:
    """Wait up to `timeout` for one message only (consume() would hold out for the whole
    count), then take whatever else has arrived, up to `most`."""
    first = consumer.consume(num_messages=1, timeout=timeout)
    if not first:
        return []
    messages = [*first, *consumer.consume(num_messages=most, timeout=0)]
    for msg in messages:
        error = msg.error()
        if error is not None:
            raise KafkaException(error)
    return messages


def close_consumers() -> None:
    """Close this thread's catch-up consumer: before a fork, so that no librdkafka thread
    holds a lock the forked process would wait on."""
    existing: Consumer | None = getattr(_local, "consumer", None)
    if existing is not None:
        existing.close()
        _local.consumer = None
        _local.assigned = None
