"""Recording what the relay published: an es_relay_batch row per topic with each event's
partition and offset (consistency tokens resolve through it), each partition's highest offset
(es_relay_mark: a restart recovers only what lies after it), and the frontier (es_relay_state),
in one transaction on a connection of its own, on a thread one batch behind the producer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any

import psycopg

from eventstore.pipelining import one_round_trip
from eventstore.relay.frontier import State
from eventstore.relay.outbox import Published

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


class Marker(threading.Thread):
    """Records delivered batches and the frontier, on its own connection, one batch behind the
    producer, in the order they were produced."""

    def __init__(self, dsn: str):
        super().__init__(name="relay-marker", daemon=True)
        self.dsn = dsn
        self.queue: queue.Queue[tuple[list[Published], State] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.marked = 0

    def submit(self, delivered: list[Published], state: State) -> None:
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
                        # (One round trip for the record and the state.)
                        with one_round_trip(conn):
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
