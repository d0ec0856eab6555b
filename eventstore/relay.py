"""The outbox relay: publishes committed events to Kafka, in order, exactly once.

- One active instance: a session-level Postgres advisory lock; others wait as hot standbys.
- Wakes on LISTEN/NOTIFY (the append notifies on commit); `idle_wait` is only a safety net.
- Batches: select the outbox rows after the frontier (the highest id selected so far), produce
  them with an idempotent producer (acks=all, key = stream id, so a stream stays in one partition
  and in order), wait for every delivery report, then record the batch: one es_relay_batch row
  with each event's partition and offset (consistency tokens resolve through it) and the new
  frontier in es_relay_state, in one transaction on a second connection, in a thread,
  overlapped with selecting and producing the next batch. The outbox rows are never updated.
- Gaps: ids are taken in the append transaction, so a transaction may commit after a later id
  is already visible. An id missing below the highest one selected is a gap, noted with the
  transactions running just after the select; once none of them is still in progress, the next
  select includes the gap: a row there is published then, and what is still missing never
  will be (it rolled back). Rows after a gap go on being published: the owner of a gap holds its
  stream's row lock until it commits, so no later event of that stream can be visible before it.
- Once Kafka has acknowledged a batch, an `on_published` hook (the projection engine's
  wake-ups) runs on a third thread, alongside the recording and coalesced per partition, so a
  slow broker round trip there never delays publishing, and projections need not wait for the
  record (they read Kafka, not the outbox).
- Kafka down: the producer retries forever (message.timeout.ms=0) and the batch waits; appends go
  on, and the outbox drains when Kafka returns.
- Crash between a delivery and its record: on start, before producing anything, the relay reads
  the tail of every partition after the highest offset recorded there (es_relay_mark, written
  with each batch; and never more than three batches: one in flight, one queued for the marker,
  one being recorded), records the events it finds there and skips them, so a restart never
  publishes an event twice.
"""

from __future__ import annotations

import bisect
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from eventstore.postgres import NOTIFY_CHANNEL
from eventstore.serialization import WireEnvelope, encode_wire

log = logging.getLogger("eventstore.relay")

RELAY_LOCK_KEY = 0x65735F72656C6179  # "es_relay"

# Postgres returns the columns; the relay writes each message's JSON (msgspec, with the stored
# payload spliced in as it is), which halved the query's cost against json_build_object().
_COLUMNS = """
SELECT o.id, o.topic, e.stream_id, e.event_id::text, e.event_type, e.schema_version::text,
       e.stream_type, e.stream_version::text, e.occurred_at::text,
       coalesce(e.correlation_id::text, ''), coalesce(e.causation_id::text, ''),
       coalesce(e.actor, ''), e.occurred_at, e.payload::text
"""
# The LIMIT 1 keeps the event lookup a nested loop of index probes: with the statistics of a
# table that grew since its last ANALYZE, the planner chose a hash join over all of es_event.
_EVENT = "CROSS JOIN LATERAL (SELECT * FROM es_event WHERE position = o.event_position LIMIT 1) e"
_BATCH_SQL = f"""{_COLUMNS}
FROM (SELECT id, topic, event_position FROM es_outbox WHERE id > %s ORDER BY id LIMIT %s) o
{_EVENT}
ORDER BY o.id
"""
# The same, plus whatever has committed inside the gaps [lo[i], hi[i]].
_BATCH_WITH_GAPS_SQL = f"""
({_BATCH_SQL})
UNION ALL
({_COLUMNS}
 FROM unnest(%s::bigint[], %s::bigint[]) AS g(lo, hi)
 JOIN es_outbox o ON o.id BETWEEN g.lo AND g.hi
 {_EVENT})
ORDER BY 1
"""
# Transactions running now, by their transaction-id locks: Postgres documents that every
# transaction with an id holds an exclusive lock on it until it ends, and it releases that lock
# only once its end is visible to new snapshots (the lock a row-lock wait waits on); an appender
# has its id before it takes an outbox id (es_append writes its stream's row first). Not the
# running list of a snapshot (pg_snapshot_xip): that lists only transactions older than the
# newest finished one, so an appender younger than a writer that committed a later outbox id
# (found missing exactly then) was not in it, its gap was settled at once, and its row, committed
# a moment later, was never published. Ids are 32-bit here: a gap lives seconds, and an id comes
# back only after four billion others. (Subtransactions lock their ids too: more of them to
# wait for, each ending with its top transaction at the latest.) Only this database's sessions
# count (transaction ids are the cluster's), and prepared transactions, which have none.
_XID_LOCKS = """FROM pg_locks WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock'
AND granted AND (pid IS NULL
    OR pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database()))"""
_RUNNING_SQL = f"SELECT coalesce(array_agg(transactionid::text::bigint), '{{}}') {_XID_LOCKS}"
# Those of them still holding their lock.
_STILL_RUNNING_SQL = (
    f"SELECT transactionid::text::bigint {_XID_LOCKS} "
    "AND transactionid::text::bigint = ANY(%s::bigint[])"
)


def message_value(row: Sequence[Any]) -> bytes:
    """The message value of a row of _BATCH_SQL. The ids stay the text Postgres gave: a Struct
    does not check types when built, and the text is the form a UUID encodes to (parsing them
    was a third of the cost)."""
    return encode_wire(
        WireEnvelope(
            event_id=row[3],
            stream_id=row[2],
            stream_type=row[6],
            stream_version=int(row[7]),
            event_type=row[4],
            schema_version=int(row[5]),
            occurred_at=row[12],
            payload=msgspec.Raw(row[13].encode()),
            actor=row[11] or None,
            correlation_id=row[9] or None,
            causation_id=row[10] or None,
        )
    )


IN_FLIGHT_BATCHES = 3

# The arrays go as text literals joined here: psycopg dumping 5,000-element lists cost 10x more.
_RECORD_BATCH_SQL = """
INSERT INTO es_relay_batch (topic, lo, hi, outbox_ids, partitions, offsets, published_at)
VALUES (%s, %s, %s, %s::bigint[], %s::int[], %s::bigint[], now())
"""


def _array(values: Sequence[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


_STATE_SQL = """
INSERT INTO es_relay_state (id, frontier, gap_lo, gap_hi, updated_at)
VALUES (1, %s, %s::bigint[], %s::bigint[], now())
ON CONFLICT (id) DO UPDATE SET frontier = EXCLUDED.frontier, gap_lo = EXCLUDED.gap_lo,
    gap_hi = EXCLUDED.gap_hi, updated_at = now()
"""

# Per partition, the highest offset recorded; a restart recovers only what lies after it.
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


class Published(NamedTuple):  # (a frozen dataclass cost 1 µs more an event to build)
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
        # Short: a batch waits this long before it goes out, and the next select waits for its
        # acknowledgement. 1 ms instead of 5: write-to-read lag p50 at 200 commands/s 25 -> 12
        # ms; relay throughput the same (large batches fill a request at once anyway).
        "linger.ms": 1,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": max(100000, config.batch_size * 3),
        "compression.type": "lz4",
        **config.producer,
    }


class _Stopped(Exception):
    pass


@dataclass
class _Gap:
    """Outbox ids [lo, hi] seen missing below visible ones. `running`: the transactions in
    progress just after they were seen (one of them may own the ids); `settled` once none of
    them was in progress any more before a select, which then finds all it will ever find."""

    lo: int
    hi: int
    running: frozenset[int]
    settled: bool = False


@dataclass(frozen=True)
class _State:
    """What es_relay_state holds once a batch is recorded."""

    frontier: int
    gaps: tuple[tuple[int, int], ...]


class _Batch:
    """Messages produced together; their delivery reports arrive on the producer's poll."""

    def __init__(self, ids: list[int], state: _State) -> None:
        self.ids = ids
        self.state = state
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


def record_batch(conn: psycopg.Connection[Any], delivered: Sequence[Published]) -> None:
    """Record where each event landed (an es_relay_batch row per topic) and each partition's
    highest offset."""
    if not delivered:
        return
    by_topic: dict[str, list[Published]] = {}
    for p in delivered:
        by_topic.setdefault(p.topic, []).append(p)
    for topic, published in by_topic.items():
        ids = [p.outbox_id for p in published]
        conn.execute(
            _RECORD_BATCH_SQL,
            [
                topic,
                min(ids),
                max(ids),
                _array(ids),
                _array([p.partition for p in published]),
                _array([p.offset for p in published]),
            ],
        )
    conn.execute(
        _RELAY_MARK_SQL,
        _highest_per_partition([(p.topic, p.partition, p.offset) for p in delivered]),
    )


class _Marker(threading.Thread):
    """Records delivered batches and the frontier, on its own connection, one batch behind the
    producer, in the order they were produced."""

    def __init__(self, dsn: str):
        super().__init__(name="relay-marker", daemon=True)
        self.dsn = dsn
        self.queue: queue.Queue[tuple[list[Published], _State] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.marked = 0

    def submit(self, delivered: list[Published], state: _State) -> None:
        self._check()
        self.queue.put((delivered, state))

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
                    item = self.queue.get()
                    try:
                        if item is None:
                            return
                        delivered, state = item
                        with conn.transaction():
                            record_batch(conn, delivered)
                            conn.execute(
                                _STATE_SQL,
                                [
                                    state.frontier,
                                    [lo for lo, _ in state.gaps],
                                    [hi for _, hi in state.gaps],
                                ],
                            )
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
        self._frontier = 0
        self._gaps: list[_Gap] = []
        self._skip: set[int] = set()  # after the frontier or in a gap, but already in Kafka

    @property
    def published_total(self) -> int:
        return self._marker.marked if self._marker is not None else 0

    # ------------------------------------------------------------------ lifecycle

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
            self._producer = Producer(self._producer_config())
            if self.on_published is not None:
                self._notifier = _Notifier(self.on_published)
                self._notifier.start()
            self._marker = _Marker(self.config.dsn)
            self._marker.start()
            self._load_state()
            self._recover()
            while not self.stop.is_set():
                batch = self._produce_batch()
                if inflight is not None:
                    self._finish(inflight)
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

    # ------------------------------------------------------------------ the frontier

    def _load_state(self) -> None:
        """The frontier and gaps as of the last recorded batch. The gaps' owners are unknown
        after a restart: any transaction running now may be one."""
        assert self._conn is not None
        row = self._conn.execute(
            "SELECT frontier, gap_lo, gap_hi FROM es_relay_state WHERE id = 1"
        ).fetchone()
        if row is None:
            # Never recorded (or the state was deleted): start from the first row, skipping any
            # a batch record says are in Kafka already.
            self._frontier, self._gaps = 0, []
            self._skip = {
                r[0]
                for r in self._conn.execute(
                    "SELECT unnest(outbox_ids) FROM es_relay_batch"
                ).fetchall()
            }
            return
        frontier, gap_lo, gap_hi = row
        running = self._running()
        self._frontier = int(frontier)
        self._gaps = [_Gap(lo, hi, running) for lo, hi in zip(gap_lo, gap_hi, strict=True)]
        self._skip = set()

    def _running(self) -> frozenset[int]:
        assert self._conn is not None
        row = self._conn.execute(_RUNNING_SQL).fetchone()
        return frozenset(row[0]) if row else frozenset()

    def _settle_gaps(self) -> None:
        """Settle the gaps none of whose transactions is still in progress: the next select,
        made after this check, sees every row they will ever hold."""
        assert self._conn is not None
        waiting = [g for g in self._gaps if not g.settled]
        if not waiting:
            return
        xids = sorted(set().union(*(g.running for g in waiting)))
        still = (
            {r[0] for r in self._conn.execute(_STILL_RUNNING_SQL, [xids]).fetchall()}
            if xids
            else set()
        )
        for gap in waiting:
            gap.settled = not (gap.running & still)

    def _advance(self, ids: list[int]) -> bool:
        """Take in the ids a select returned (ascending): fill gaps, drop settled ones, note new
        ones, move the frontier. Returns whether anything changed."""
        changed = False
        gaps: list[_Gap] = []
        for gap in self._gaps:
            inside = ids[bisect.bisect_left(ids, gap.lo) : bisect.bisect_right(ids, gap.hi)]
            if gap.settled:  # what it does not hold now, it never will
                changed = True
                continue
            lo = gap.lo
            for i in inside:
                changed = True
                if i > lo:
                    gaps.append(_Gap(lo, i - 1, gap.running))
                lo = i + 1
            if lo <= gap.hi:
                gaps.append(_Gap(lo, gap.hi, gap.running))
        start = bisect.bisect_right(ids, self._frontier)
        holes: list[tuple[int, int]] = []
        previous = self._frontier
        for i in ids[start:]:
            if i > previous + 1:
                holes.append((previous + 1, i - 1))
            previous = i
        if holes:
            running = self._running()  # taken after the select: see _Gap
            gaps.extend(_Gap(lo, hi, running, settled=not running) for lo, hi in holes)
            gaps.sort(key=lambda g: g.lo)
        if previous != self._frontier:
            self._frontier = previous
            changed = True
        self._gaps = gaps
        return changed

    def _state(self) -> _State:
        return _State(self._frontier, tuple((g.lo, g.hi) for g in self._gaps))

    # ------------------------------------------------------------------ publishing

    def _produce_batch(self) -> _Batch | None:
        """Select the rows after the frontier and in settled or filled gaps; hand them to the
        producer. None when there is nothing to publish or record."""
        assert self._conn is not None and self._producer is not None
        self._settle_gaps()
        if self._gaps:
            rows = self._conn.execute(
                _BATCH_WITH_GAPS_SQL,
                [
                    self._frontier,
                    self.config.batch_size,
                    [g.lo for g in self._gaps],
                    [g.hi for g in self._gaps],
                ],
            ).fetchall()
        else:
            rows = self._conn.execute(
                _BATCH_SQL, [self._frontier, self.config.batch_size]
            ).fetchall()
        ids = [row[0] for row in rows]
        changed = self._advance(ids)
        if self._skip:
            rows = [row for row in rows if row[0] not in self._skip]
            ids = [row[0] for row in rows]
            self._skip = {i for i in self._skip if i > self._frontier}  # the rest were seen
        if not rows and not changed:
            return None
        batch = _Batch(ids, self._state())
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

    def _in_gap(self, outbox_id: int) -> bool:
        return any(g.lo <= outbox_id <= g.hi for g in self._gaps)

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
        if self._notifier is not None and batch.delivered:
            # Readers of the log need no record: wake them now, alongside the recording.
            self._notifier.submit(batch.delivered)
        self._marker.submit(batch.delivered, batch.state)

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> None:
        """Record (and skip) events a previous instance published but died before recording."""
        assert self._conn is not None
        topics = [
            r[0]
            for r in self._conn.execute(
                "SELECT DISTINCT topic FROM es_outbox WHERE id > %s "
                "UNION SELECT DISTINCT o.topic FROM unnest(%s::bigint[], %s::bigint[]) g(lo, hi) "
                "JOIN es_outbox o ON o.id BETWEEN g.lo AND g.hi",
                [self._frontier, [g.lo for g in self._gaps], [g.hi for g in self._gaps]],
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
        if not found:
            return
        where = {
            event_id: outbox_id
            for outbox_id, event_id in self._conn.execute(
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
            and (where[event_id] > self._frontier or self._in_gap(where[event_id]))
        ]
        if recovered:
            with self._conn.transaction():
                record_batch(self._conn, recovered)
            self._skip.update(p.outbox_id for p in recovered)
            log.info("recovered %d events already in Kafka", len(recovered))

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
