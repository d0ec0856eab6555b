"""The relay's loop: one active instance, woken by NOTIFY, producing a batch while the one
before it is acknowledged and recorded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Producer

from eventstore import metrics
from eventstore.postgres import NOTIFY_CHANNEL
from eventstore.relay.frontier import Frontier, State
from eventstore.relay.notifier import Notifier
from eventstore.relay.outbox import Published, produce
from eventstore.relay.recording import Marker
from eventstore.relay.recovery import recover

log = logging.getLogger("eventstore.relay")

RELAY_LOCK_KEY = 0x65735F72656C6179  # "es_relay"


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
        # Short: a batch waits this long before it goes out, and the next select waits for its
        # acknowledgement. 1 ms instead of 5: write-to-read lag p50 at 200 commands/s 25 -> 12
        # ms; relay throughput the same (large batches fill a request at once anyway).
        "linger.ms": 1,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": max(100000, config.batch_size * 3),
        "compression.type": "lz4",
        **config.producer,
    }


MAX_LOGGED_IDS = 20
GAP_LOOK = 0.1  # seconds between looks at the open gaps when no NOTIFY comes


def _first_distinct(values: Iterable[str]) -> list[str]:
    """The first MAX_LOGGED_IDS distinct values (a batch's log line names a few, not all)."""
    found: dict[str, None] = {}
    for value in values:
        found.setdefault(value)
        if len(found) >= MAX_LOGGED_IDS:
            break
    return list(found)


class _Stopped(Exception):
    pass


class _Batch:
    """Messages produced together; their delivery reports arrive on the producer's poll."""

    def __init__(self, rows: Sequence[Any], state: State, *, full: bool = False) -> None:
        self.ids = [row[0] for row in rows]
        self.state = state
        self.full = full  # the select returned as many rows as it asked for
        self.delivered: list[Published] = []
        self.failed: list[KafkaError] = []
        self.started = time.perf_counter()
        # For the batch's log line: the commands (correlation ids) and traces it carried.
        self.correlations = _first_distinct(row[9] or row[3] for row in rows)
        self.traces = _first_distinct(row[14][3:35] for row in rows if row[14])  # 00-<id>-...
        self.committed = {row[0]: row[12] for row in rows}  # outbox id -> commit time

    def on_delivery(
        self, err: KafkaError | None, msg: Any, *, outbox_id: int, event_type: str
    ) -> None:
        if err is not None:
            self.failed.append(err)
        else:
            self.delivered.append(
                Published(outbox_id, msg.topic(), msg.partition(), msg.offset(), event_type)
            )

    @property
    def done(self) -> bool:
        return len(self.delivered) + len(self.failed) >= len(self.ids)


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
        self._marker: Marker | None = None
        self._notifier: Notifier | None = None
        self.frontier = Frontier()

    @property
    def published_total(self) -> int:
        return self._marker.marked if self._marker is not None else 0

    def run(self, *, once: bool = False) -> int:
        """Publish until stopped (or, with once=True, until nothing more is visible)."""
        conn = psycopg.connect(self.config.dsn, autocommit=True)
        self._conn = conn
        inflight: _Batch | None = None
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            if not self._acquire_lock(conn):
                return 0
            self._listen = psycopg.connect(self.config.dsn, autocommit=True)
            self._listen.execute(f"LISTEN {NOTIFY_CHANNEL}")  # before the first SELECT
            self._producer = Producer(producer_config(self.config))
            if self.on_published is not None:
                self._notifier = Notifier(self.on_published)
                self._notifier.start()
            self._marker = Marker(self.config.dsn)
            self._marker.start()
            self.frontier.load(conn)
            recover(
                conn,
                self.frontier,
                bootstrap_servers=self.config.bootstrap_servers,
                batch_size=self.config.batch_size,
                stop=self.stop,
            )
            while not self.stop.is_set():
                batch = self._produce_batch()
                if inflight is not None:
                    self._finish(inflight)
                inflight = batch
                if batch is not None:
                    if batch.full or once:
                        continue  # more may be visible: select again while this one is acked
                    # A short batch took all that was visible: whatever commits after it sends
                    # a NOTIFY, so wait for that rather than select again at once (a select
                    # that finds nothing was half the relay's queries at a steady pace).
                    self._finish(batch)
                    inflight = None
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
            metrics.RELAY_ACTIVE.set(0)
            if self._marker is not None:
                self._marker.close()
            if self._notifier is not None:
                self._notifier.close()
            if self._producer is not None:
                self._producer.flush(5)
            if self._listen is not None:
                self._listen.close()
            conn.close()

    def _acquire_lock(self, conn: psycopg.Connection[Any]) -> bool:
        announced = False
        while not self.stop.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [self.config.lock_key]).fetchone()
            if row and row[0]:
                log.info("relay active (advisory lock %s held)", self.config.lock_key)
                metrics.RELAY_ACTIVE.set(1)
                return True
            if not announced:
                log.info("another relay is active; standing by")
                metrics.RELAY_ACTIVE.set(0)
                announced = True
            self.stop.wait(1.0)
        return False

    def _wait_for_nudge(self) -> None:
        """Wait for a NOTIFY (one that came while we worked returns at once), then drop the
        others already queued: the next SELECT sees everything they announce. While a gap is
        open, look again every GAP_LOOK seconds: a transaction that rolls back sends no NOTIFY,
        and its gap holds the settled position (the reactions) back until it is dropped."""
        assert self._listen is not None
        idle = self.config.idle_wait
        timeout = min(GAP_LOOK, idle) if self.frontier.gaps else idle
        for _ in self._listen.notifies(timeout=timeout, stop_after=1):
            pass
        # timeout=0 polls once. (A timeout of 1 ms spun the CPU for that whole millisecond in
        # psycopg's wait: half the relay's CPU per batch at a steady pace, and 1 ms of lag.)
        for _ in self._listen.notifies(timeout=0):
            pass

    def _produce_batch(self) -> _Batch | None:
        """Select the rows after the frontier and in settled or filled gaps; hand them to the
        producer. None when there is nothing to publish or record."""
        assert self._conn is not None and self._producer is not None
        rows = self.frontier.select(self._conn, self.config.batch_size)
        full = len(rows) >= self.config.batch_size
        rows, changed = self.frontier.take(self._conn, rows)
        if not rows and not changed:
            return None
        batch = _Batch(rows, self.frontier.state(), full=full)
        produce(self._producer, rows, batch.on_delivery)
        return batch

    def _finish(self, batch: _Batch) -> None:
        """Wait for every delivery report of the batch, then hand it to the marker."""
        assert self._producer is not None and self._marker is not None
        warned_at = time.monotonic()
        while not batch.done:
            if self.stop.is_set():
                # Leave the batch unrecorded: the next start recovers what Kafka already has.
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
        if batch.delivered:
            now = datetime.now(UTC)
            metrics.RELAY_BATCH_EVENTS.observe(len(batch.delivered))
            metrics.observe_many(
                metrics.RELAY_ACK_SECONDS,
                ((now - batch.committed[p.outbox_id]).total_seconds() for p in batch.delivered),
            )
            log.info(
                "published %d events",
                len(batch.delivered),
                extra={
                    "events": len(batch.delivered),
                    "duration_ms": round((time.perf_counter() - batch.started) * 1000, 2),
                    "correlation_ids": batch.correlations,
                    "trace_ids": batch.traces,
                },
            )
        if self._notifier is not None and batch.delivered:
            # Readers of the log need no record: wake them now, alongside the recording.
            self._notifier.submit(batch.delivered)
        self._marker.submit(batch.delivered, batch.state)
