"""After a crash between Kafka's acknowledgement of a batch and its record: before producing
anything, the relay reads the tail of every partition after the highest offset recorded there
(es_relay_mark, written with each batch; and never more than three batches: one in flight, one
queued for the marker, one being recorded), records the events it finds there and skips them,
so a restart never publishes an event twice."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from eventstore.relay.frontier import Frontier
from eventstore.relay.outbox import Published
from eventstore.relay.recording import record_batch

log = logging.getLogger("eventstore.relay")

IN_FLIGHT_BATCHES = 3


def recover(
    conn: psycopg.Connection[Any],
    frontier: Frontier,
    *,
    bootstrap_servers: str,
    batch_size: int,
    stop: threading.Event,
) -> None:
    """Record (and mark to skip) events a previous instance published but died before
    recording."""
    topics = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT topic FROM es_outbox WHERE id > %s "
            "UNION SELECT DISTINCT o.topic FROM unnest(%s::bigint[], %s::bigint[]) g(lo, hi) "
            "JOIN es_outbox o ON o.id BETWEEN g.lo AND g.hi",
            [frontier.position, [g.lo for g in frontier.gaps], [g.hi for g in frontier.gaps]],
        ).fetchall()
    ]
    if not topics:
        return
    marked = {
        (t, p): off
        for t, p, off in conn.execute(
            "SELECT topic, kafka_partition, kafka_offset FROM es_relay_mark WHERE topic = ANY(%s)",
            [topics],
        ).fetchall()
    }
    while not stop.is_set():
        try:
            found = scan_tails(
                bootstrap_servers, topics, depth=batch_size * IN_FLIGHT_BATCHES, marked=marked
            )
            break
        except KafkaException as exc:
            log.warning("waiting for Kafka to recover the outbox: %s", exc)
            stop.wait(2.0)
    else:
        return
    if not found:
        return
    where = {
        event_id: outbox_id
        for outbox_id, event_id in conn.execute(
            "SELECT o.id, e.event_id::text FROM es_event e "
            "JOIN es_outbox o ON o.event_position = e.position "
            "WHERE e.event_id = ANY(%s::uuid[])",
            [[f[0] for f in found]],
        ).fetchall()
    }
    recovered = [
        Published(where[event_id], topic, partition, offset)
        for event_id, topic, partition, offset in found
        if event_id in where
        and (where[event_id] > frontier.position or frontier.in_gap(where[event_id]))
    ]
    if recovered:
        with conn.transaction():
            record_batch(conn, recovered)
        frontier.skip.update(p.outbox_id for p in recovered)
        log.info("recovered %d events already in Kafka", len(recovered))


def scan_tails(
    bootstrap_servers: str, topics: list[str], *, depth: int, marked: dict[tuple[str, int], int]
) -> list[tuple[str, str, int, int]]:
    """(event id, topic, partition, offset) of the messages at the end of each partition
    that may be unmarked: those after the highest marked offset, and at most `depth`."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "es-relay-recovery",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        assign: list[TopicPartition] = []
        ends: dict[tuple[str, int], int] = {}
        for topic in topics:
            if topic not in metadata.topics:
                continue
            for p in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                start = max(low, high - depth)
                mark = marked.get((topic, p))
                if mark is not None and mark < high:  # (else: a recreated topic)
                    start = max(start, mark + 1)
                if high > start:
                    assign.append(TopicPartition(topic, p, start))
                    ends[(topic, p)] = high
        found: list[tuple[str, str, int, int]] = []
        if not assign:
            return found
        consumer.assign(assign)
        remaining = set(ends)
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset()
            tp = (topic, partition)
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(tp)
                    continue
                raise KafkaException(error)
            assert offset is not None
            event_id = dict(msg.headers() or []).get("event_id")
            if isinstance(event_id, bytes):
                found.append((event_id.decode(), topic, partition, offset))
            if offset + 1 >= ends[tp]:
                remaining.discard(tp)
        if remaining:
            raise KafkaException(f"could not read the tail of {sorted(remaining)}")
        return found
    finally:
        consumer.close()
