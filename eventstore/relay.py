"""The outbox relay: publishes committed events to Kafka, in order, exactly once.

- One active instance: a session-level Postgres advisory lock; others wait as hot standbys.
- Wakes on LISTEN/NOTIFY (the append notifies on commit); `idle_wait` is only a safety net.
- Batches: select the oldest unpublished outbox rows (Postgres builds each message's JSON), produce
  them with an idempotent producer (acks=all, key = stream id, so a stream stays in one partition
  and in order), wait for every delivery report, then mark the rows published with their
  partition and offset (consistency tokens resolve through those). The marking runs on a second
  connection in a thread, overlapped with selecting and producing the next batch, which starts
  after the highest id in flight. A row that commits late, below that point, is caught by a
  check made after each select; the relay then drains and starts again from the oldest row, so a
  late row is never overtaken by a later event of its own stream.
- Once Kafka has acknowledged a batch, an `on_published` hook (the projection engine's
  wake-ups) runs on a third thread, alongside the marking and coalesced per partition, so a
  slow broker round trip there never delays publishing, and projections need not wait for the
  mark (they read Kafka, not the outbox).
- Kafka down: the producer retries forever (message.timeout.ms=0) and the batch waits; appends go
  on, and the outbox drains when Kafka returns.
- Crash between a delivery and its mark: on start, before producing anything, the relay reads the
  tail of every partition after the highest offset marked there (es_relay_mark, written with
  each mark; and never more than three batches: one in flight, one queued for the marker, one
  being marked) and marks the events it finds there, so a restart never publishes an event
  twice.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from eventstore.postgres import NOTIFY_CHANNEL
from eventstore.serialization import WireEnvelope, encode_wire

log = logging.getLogger("eventstore.relay")

RELAY_LOCK_KEY = 0x65735F72656C6179  # "es_relay"

# Postgres returns the columns; the relay writes each message's JSON (msgspec, with the stored
# payload spliced in as it is), which halved the query's cost against json_build_object().
_BATCH_SQL = """
SELECT o.id, o.topic, e.stream_id, e.event_id::text, e.event_type, e.schema_version::text,
       e.stream_type, e.stream_version::text, e.occurred_at::text,
       coalesce(e.correlation_id::text, ''), coalesce(e.causation_id::text, ''),
       coalesce(e.actor, ''), e.occurred_at, e.payload::text
FROM es_outbox o JOIN es_event e ON e.position = o.event_position
WHERE o.published_at IS NULL AND o.id > %s
ORDER BY o.id
LIMIT %s
"""


def message_value(row: Sequence[Any]) -> bytes:
    """The message value of a row of _BATCH_SQL."""
    return encode_wire(
        WireEnvelope(
            event_id=uuid.UUID(row[3]),
            stream_id=row[2],
            stream_type=row[6],
            stream_version=int(row[7]),
            event_type=row[4],
            schema_version=int(row[5]),
            occurred_at=row[12],
            payload=msgspec.Raw(row[13].encode()),
            actor=row[11] or None,
            correlation_id=uuid.UUID(row[9]) if row[9] else None,
            causation_id=uuid.UUID(row[10]) if row[10] else None,
        )
    )


_UNPUBLISHED_UP_TO_SQL = "SELECT id FROM es_outbox WHERE published_at IS NULL AND id <= %s"
IN_FLIGHT_BATCHES = 3

_MARK_SQL = """
UPDATE es_outbox AS o
SET published_at = now(), kafka_partition = v.p, kafka_offset = v.off
FROM unnest(%s::bigint[], %s::int[], %s::bigint[]) AS v(id, p, off)
WHERE o.id = v.id
"""

# Per partition, the highest offset marked; a restart recovers only what lies after it.
_RELAY_MARK_SQL = """
INSERT INTO es_relay_mark (topic, kafka_partition, kafka_offset)
SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[])
ON CONFLICT (topic, kafka_partition)
DO UPDATE SET kafka_offset = greatest(es_relay_mark.kafka_offset, EXCLUDED.kafka_offset)
"""


def _highest_per_partition(published: Sequence[tuple[str, int, int]]) -> list[list[Any]]:
    """(topic, partition, offset) triples -> the unnest() columns of each partition's highest."""
    highest: dict[tuple[str, int], int] = {}
    for topic, partition, offset in published:
        if offset > highest.get((topic, partition), -1):
            highest[(topic, partition)] = offset
    return [[t for t, _ in highest], [p for _, p in highest], list(highest.values())]


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


def producer_config(config: RelayConfig) -> dict[str, Any]:
    """The relay's producer settings (also what the benchmark's raw baseline uses)."""
    return {
        "bootstrap.servers": config.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 0,  # never give up: a timed-out message could be a duplicate
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": max(100000, config.batch_size * 3),
        "compression.type": "lz4",
        **config.producer,
    }


class _Stopped(Exception):
    pass


class _Drain:
    """A late row appeared below the rows in flight: finish them, then start from the oldest."""


class _Batch:
    """Messages produced together; their delivery reports arrive on the producer's poll."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.delivered: list[Published] = []
        self.failed: list[KafkaError] = []

    def on_delivery(self, err: KafkaError | None, msg: Any, *, outbox_id: int) -> None:
        if err is not None:
            self.failed.append(err)
        else:
            self.delivered.append(Published(outbox_id, msg.topic(), msg.partition(), msg.offset()))

    @property
    def done(self) -> bool:
        return len(self.delivered) + len(self.failed) >= len(self.ids)


class _Notifier(threading.Thread):
    """Calls the on_published hook on a thread of its own, so a slow hook (it enqueues
    wake-ups on the broker) never holds up publishing. Calls coalesce: each gets, per
    partition, the last event Kafka acknowledged since the previous call, however many batches
    that was."""

    def __init__(self, hook: Callable[[Sequence[Published]], None]):
        super().__init__(name="relay-notifier", daemon=True)
        self.hook = hook
        self.cond = threading.Condition()
        self.latest: dict[tuple[str, int], Published] = {}
        self.closed = False
        self.busy = False

    def submit(self, delivered: Sequence[Published]) -> None:
        with self.cond:
            for p in delivered:
                self.latest[(p.topic, p.partition)] = p
            self.cond.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every submitted event has been passed to the hook."""
        with self.cond:
            self.cond.wait_for(lambda: not self.latest and not self.busy, timeout=timeout)

    def close(self) -> None:
        self.flush()
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.join(timeout=30)

    def run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.latest or self.closed)
                if not self.latest:
                    return
                batch, self.latest, self.busy = list(self.latest.values()), {}, True
            try:
                self.hook(batch)
            except Exception:  # a failing hook must not stop publishing
                log.exception("on_published hook failed")
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()


class _Marker(threading.Thread):
    """Marks delivered batches published, on its own connection, one batch behind the producer."""

    def __init__(self, dsn: str):
        super().__init__(name="relay-marker", daemon=True)
        self.dsn = dsn
        self.queue: queue.Queue[list[Published] | None] = queue.Queue(maxsize=1)
        self.lock = threading.Lock()
        self.pending: set[int] = set()  # submitted, not yet committed
        self.error: BaseException | None = None
        self.marked = 0

    def submit(self, delivered: list[Published]) -> None:
        self._check()
        with self.lock:
            self.pending.update(p.outbox_id for p in delivered)
        self.queue.put(delivered)

    def pending_ids(self) -> set[int]:
        with self.lock:
            return set(self.pending)

    def drain(self) -> None:
        self.queue.join()
        self._check()

    def close(self) -> None:
        self.queue.put(None)
        self.join(timeout=30)

    def _check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"relay marker failed: {self.error}") from self.error

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while True:
                    delivered = self.queue.get()
                    try:
                        if delivered is None:
                            return
                        with conn.transaction():
                            conn.execute(
                                _MARK_SQL,
                                [
                                    [p.outbox_id for p in delivered],
                                    [p.partition for p in delivered],
                                    [p.offset for p in delivered],
                                ],
                            )
                            conn.execute(
                                _RELAY_MARK_SQL,
                                _highest_per_partition(
                                    [(p.topic, p.partition, p.offset) for p in delivered]
                                ),
                            )
                        with self.lock:
                            self.pending.difference_update(p.outbox_id for p in delivered)
                        self.marked += len(delivered)
                    finally:
                        self.queue.task_done()
        except BaseException as exc:  # noqa: BLE001 - surfaced to the main loop by _check
            self.error = exc
            while True:  # unblock a producer waiting on submit/drain
                try:
                    self.queue.get_nowait()
                    self.queue.task_done()
                except queue.Empty:
                    break


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
        self._conn: psycopg.Connection[Any] | None = None
        # LISTEN on a connection of its own that never runs a query: libpq then keeps every
        # notification until we wait, and none is lost while the other connection works.
        self._listen: psycopg.Connection[Any] | None = None
        self._producer: Producer | None = None
        self._marker: _Marker | None = None
        self._notifier: _Notifier | None = None

    @property
    def published_total(self) -> int:
        return self._marker.marked if self._marker is not None else 0

    # ------------------------------------------------------------------ lifecycle

    def run(self, *, once: bool = False) -> int:
        """Publish until stopped (or, with once=True, until the outbox is empty)."""
        conn = psycopg.connect(self.config.dsn, autocommit=True)
        self._conn = conn
        inflight: _Batch | None = None
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            if not self._acquire_lock(conn):
                return 0
            self._listen = psycopg.connect(self.config.dsn, autocommit=True)
            self._listen.execute(f"LISTEN {NOTIFY_CHANNEL}")  # before the first SELECT
            self._producer = Producer(self._producer_config())
            if self.on_published is not None:
                self._notifier = _Notifier(self.on_published)
                self._notifier.start()
            self._marker = _Marker(self.config.dsn)
            self._marker.start()
            self._recover()
            while not self.stop.is_set():
                batch = self._produce_batch(exclude=inflight.ids if inflight else [])
                if inflight is not None:
                    self._finish(inflight)
                    inflight = None
                if isinstance(batch, _Drain):
                    self._marker.drain()
                    continue
                inflight = batch
                if batch is None:
                    self._marker.drain()
                    if once:
                        break
                    self._wait_for_nudge()
            if inflight is not None:
                self._finish(inflight)
            self._marker.drain()
            return self.published_total
        except _Stopped:
            log.info("stopped while Kafka had not acknowledged a batch; it is recovered on start")
            return self.published_total
        finally:
            if self._marker is not None:
                self._marker.close()
            if self._notifier is not None:
                self._notifier.close()
            if self._producer is not None:
                self._producer.flush(5)
            if self._listen is not None:
                self._listen.close()
            conn.close()

    def _producer_config(self) -> dict[str, Any]:
        return producer_config(self.config)

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
        """Wait for a NOTIFY (one that came while we worked returns at once), then drop the
        others already queued: the next SELECT sees everything they announce."""
        assert self._listen is not None
        for _ in self._listen.notifies(timeout=self.config.idle_wait, stop_after=1):
            pass
        for _ in self._listen.notifies(timeout=0.001):
            pass

    # ------------------------------------------------------------------ publishing

    def _produce_batch(self, *, exclude: list[int]) -> _Batch | None | _Drain:
        """Select the oldest unpublished rows after those in flight; hand them to the producer."""
        assert self._conn is not None and self._producer is not None and self._marker
        in_flight = self._marker.pending_ids().union(exclude)
        after = max(in_flight, default=0)
        rows = self._conn.execute(_BATCH_SQL, [after, self.config.batch_size]).fetchall()
        if in_flight:
            # Checked after the select: a late row committed before the select is seen here.
            unpublished = self._conn.execute(_UNPUBLISHED_UP_TO_SQL, [after]).fetchall()
            if any(row[0] not in in_flight for row in unpublished):
                return _Drain()
        if not rows:
            return None
        batch = _Batch([row[0] for row in rows])
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
                _occurred_at,
                _payload,
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
                        value=message_value(row),
                        headers=headers,
                        on_delivery=functools.partial(batch.on_delivery, outbox_id=oid),
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.poll(0)
        return batch

    def _finish(self, batch: _Batch) -> None:
        """Wait for every delivery report of the batch, then hand it to the marker."""
        assert self._producer is not None and self._marker is not None
        warned_at = time.monotonic()
        while not batch.done:
            if self.stop.is_set():
                # Leave the batch unmarked: the next start recovers what Kafka already has.
                raise _Stopped
            self._producer.poll(0.5)
            if time.monotonic() - warned_at > 10:
                log.warning(
                    "Kafka at %s not acknowledging: %d of %d events of a batch pending",
                    self.config.bootstrap_servers,
                    len(batch.ids) - len(batch.delivered),
                    len(batch.ids),
                )
                warned_at = time.monotonic()
        if batch.failed:
            # Fatal producer errors (e.g. an unknown topic): nothing past them may be published,
            # or per-stream order would break. Stop loudly; the outbox keeps every row.
            raise RuntimeError(f"Kafka rejected {len(batch.failed)} events: {batch.failed[0]}")
        if self._notifier is not None:
            # Readers of the log need no mark: wake them now, alongside the marking.
            self._notifier.submit(batch.delivered)
        self._marker.submit(batch.delivered)

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
        marked = {
            (t, p): off
            for t, p, off in self._conn.execute(
                "SELECT topic, kafka_partition, kafka_offset FROM es_relay_mark "
                "WHERE topic = ANY(%s)",
                [topics],
            ).fetchall()
        }
        while not self.stop.is_set():
            try:
                found = self._scan_tails(
                    topics, depth=self.config.batch_size * IN_FLIGHT_BATCHES, marked=marked
                )
                break
            except KafkaException as exc:
                log.warning("waiting for Kafka to recover the outbox: %s", exc)
                self.stop.wait(2.0)
        else:
            return
        if found:
            ids, _topics, parts, offs = zip(*found, strict=True)
            with self._conn.transaction():
                cur = self._conn.execute(_RECOVER_SQL, [list(ids), list(parts), list(offs)])
                recovered = cur.rowcount
                self._conn.execute(_RELAY_MARK_SQL, _highest_per_partition([f[1:] for f in found]))
            if recovered:
                log.info("recovered %d events already in Kafka", recovered)

    def _scan_tails(
        self, topics: list[str], *, depth: int, marked: dict[tuple[str, int], int]
    ) -> list[tuple[str, str, int, int]]:
        """(event id, topic, partition, offset) of the messages at the end of each partition
        that may be unmarked: those after the highest marked offset, and at most `depth`."""
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
