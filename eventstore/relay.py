"""The outbox relay: publishes committed events to Kafka, in order, exactly once.

- One active instance: a session-level Postgres advisory lock; others wait as hot standbys.
- Wakes on LISTEN/NOTIFY (the append notifies on commit); `idle_wait` is only a safety net.
- Batches: select the oldest unpublished outbox rows (Postgres builds each message's JSON), produce
  them with an idempotent producer (acks=all, key = stream id, so a stream stays in one partition
  and in order), wait for every delivery report, then mark the rows published with their
  partition and offset (consistency tokens resolve through those).
- Kafka down: the producer retries forever (message.timeout.ms=0) and the batch waits; appends go
  on, and the outbox drains when Kafka returns.
- Crash between a delivery and its mark: on start, before producing anything, the relay reads the
  tail of every partition (at most one batch can be in flight) and marks the events it finds
  there, so a restart never publishes an event twice.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from eventstore.postgres import NOTIFY_CHANNEL

log = logging.getLogger("eventstore.relay")

RELAY_LOCK_KEY = 0x65735F72656C6179  # "es_relay"

_BATCH_SQL = """
SELECT o.id, o.topic, e.stream_id, e.event_id::text, e.event_type, e.schema_version::text,
       e.stream_type, e.stream_version::text, e.occurred_at::text,
       coalesce(e.correlation_id::text, ''), coalesce(e.causation_id::text, ''),
       coalesce(e.actor, ''),
       json_build_object(
           'event_id', e.event_id, 'stream_id', e.stream_id, 'stream_type', e.stream_type,
           'stream_version', e.stream_version, 'event_type', e.event_type,
           'schema_version', e.schema_version, 'occurred_at', e.occurred_at, 'actor', e.actor,
           'correlation_id', e.correlation_id, 'causation_id', e.causation_id,
           'payload', e.payload)::text
FROM es_outbox o JOIN es_event e ON e.position = o.event_position
WHERE o.published_at IS NULL
ORDER BY o.id
LIMIT %s
"""

_MARK_SQL = """
UPDATE es_outbox AS o
SET published_at = now(), kafka_partition = v.p, kafka_offset = v.off
FROM unnest(%s::bigint[], %s::int[], %s::bigint[]) AS v(id, p, off)
WHERE o.id = v.id
"""

_RECOVER_SQL = """
UPDATE es_outbox AS o
SET published_at = now(), kafka_partition = v.p, kafka_offset = v.off
FROM unnest(%s::uuid[], %s::int[], %s::bigint[]) AS v(event_id, p, off), es_event e
WHERE e.event_id = v.event_id AND o.event_position = e.position AND o.published_at IS NULL
"""


@dataclass(frozen=True)
class Published:
    outbox_id: int
    topic: str
    partition: int
    offset: int


@dataclass
class RelayConfig:
    dsn: str
    bootstrap_servers: str
    batch_size: int = 5000
    idle_wait: float = 5.0
    lock_key: int = RELAY_LOCK_KEY
    producer: dict[str, Any] = field(default_factory=dict)


class Relay:
    def __init__(
        self,
        config: RelayConfig,
        *,
        on_published: Callable[[Sequence[Published]], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.on_published = on_published
        self.stop = stop or threading.Event()
        self.published_total = 0
        self._nudged = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._producer: Producer | None = None

    # ------------------------------------------------------------------ lifecycle

    def run(self, *, once: bool = False) -> int:
        """Publish until stopped (or, with once=True, until the outbox is empty)."""
        conn = psycopg.connect(self.config.dsn, autocommit=True)
        self._conn = conn
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            if not self._acquire_lock(conn):
                return self.published_total
            conn.add_notify_handler(lambda _n: self._nudged.set())
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._producer = Producer(self._producer_config())
            self._recover()
            while not self.stop.is_set():
                count = self._publish_batch()
                if count >= self.config.batch_size:
                    continue
                if once and count == 0:
                    break
                if count == 0:
                    self._wait_for_nudge()
            return self.published_total
        finally:
            if self._producer is not None:
                self._producer.flush(5)
            conn.close()

    def _producer_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.config.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 0,  # never give up: a timed-out message could be a duplicate
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": max(100000, self.config.batch_size * 2),
            "compression.type": "lz4",
            **self.config.producer,
        }

    def _acquire_lock(self, conn: psycopg.Connection[Any]) -> bool:
        announced = False
        while not self.stop.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [self.config.lock_key]).fetchone()
            if row and row[0]:
                log.info("relay active (advisory lock %s held)", self.config.lock_key)
                return True
            if not announced:
                log.info("another relay is active; standing by")
                announced = True
            self.stop.wait(1.0)
        return False

    def _wait_for_nudge(self) -> None:
        assert self._conn is not None
        if self._nudged.is_set():
            self._nudged.clear()
            return
        for _ in self._conn.notifies(timeout=self.config.idle_wait, stop_after=1):
            pass
        self._nudged.clear()

    # ------------------------------------------------------------------ publishing

    def _publish_batch(self) -> int:
        assert self._conn is not None and self._producer is not None
        self._nudged.clear()
        rows = self._conn.execute(_BATCH_SQL, [self.config.batch_size]).fetchall()
        if not rows:
            return 0
        delivered: list[Published] = []
        failed: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, msg: Any, *, outbox_id: int) -> None:
            if err is not None:
                failed.append(err)
            else:
                delivered.append(Published(outbox_id, msg.topic(), msg.partition(), msg.offset()))

        producer = self._producer
        for row in rows:
            (
                oid,
                topic,
                stream_id,
                event_id,
                event_type,
                schema_version,
                stream_type,
                stream_version,
                occurred_at,
                correlation_id,
                causation_id,
                actor,
                value,
            ) = row
            headers = [
                ("event_id", event_id),
                ("event_type", event_type),
                ("schema_version", schema_version),
                ("stream_type", stream_type),
                ("stream_version", stream_version),
                ("occurred_at", occurred_at),
                ("correlation_id", correlation_id),
                ("causation_id", causation_id),
                ("actor", actor),
            ]
            while True:
                try:
                    producer.produce(
                        topic,
                        key=stream_id,
                        value=value,
                        headers=headers,
                        on_delivery=functools.partial(on_delivery, outbox_id=oid),
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
        self._await_deliveries(len(rows), delivered, failed)
        if failed:
            # Fatal producer errors (e.g. an unknown topic): nothing past them may be published,
            # or per-stream order would break. Stop loudly; the outbox keeps every row.
            raise RuntimeError(f"Kafka rejected {len(failed)} events: {failed[0]}")
        self._mark(delivered)
        return len(rows)

    def _await_deliveries(
        self, expected: int, delivered: list[Published], failed: list[KafkaError]
    ) -> None:
        assert self._producer is not None
        warned_at = time.monotonic()
        while len(delivered) + len(failed) < expected:
            self._producer.flush(1.0)
            if time.monotonic() - warned_at > 10:
                log.warning(
                    "Kafka at %s not acknowledging: %d of %d events of this batch pending",
                    self.config.bootstrap_servers,
                    expected - len(delivered),
                    expected,
                )
                warned_at = time.monotonic()

    def _mark(self, delivered: list[Published]) -> None:
        assert self._conn is not None
        self._conn.execute(
            _MARK_SQL,
            [
                [p.outbox_id for p in delivered],
                [p.partition for p in delivered],
                [p.offset for p in delivered],
            ],
        )
        self.published_total += len(delivered)
        if self.on_published is not None:
            try:
                self.on_published(delivered)
            except Exception:  # a failing hook must not stop publishing
                log.exception("on_published hook failed")

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> None:
        """Mark events a previous instance published but died before marking."""
        assert self._conn is not None
        topics = [
            r[0]
            for r in self._conn.execute(
                "SELECT DISTINCT topic FROM es_outbox WHERE published_at IS NULL"
            ).fetchall()
        ]
        if not topics:
            return
        while not self.stop.is_set():
            try:
                found = self._scan_tails(topics, depth=self.config.batch_size)
                break
            except KafkaException as exc:
                log.warning("waiting for Kafka to recover the outbox: %s", exc)
                self.stop.wait(2.0)
        else:
            return
        if found:
            ids, parts, offs = zip(*found, strict=True)
            cur = self._conn.execute(_RECOVER_SQL, [list(ids), list(parts), list(offs)])
            if cur.rowcount:
                log.info("recovered %d events already in Kafka", cur.rowcount)

    def _scan_tails(self, topics: list[str], *, depth: int) -> list[tuple[str, int, int]]:
        consumer = Consumer(
            {
                "bootstrap.servers": self.config.bootstrap_servers,
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
                    if high > low:
                        assign.append(TopicPartition(topic, p, max(low, high - depth)))
                        ends[(topic, p)] = high
            found: list[tuple[str, int, int]] = []
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
                    found.append((event_id.decode(), partition, offset))
                if offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            if remaining:
                raise KafkaException(f"could not read the tail of {sorted(remaining)}")
            return found
        finally:
            consumer.close()
