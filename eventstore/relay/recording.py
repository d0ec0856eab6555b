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

from eventstore.relay.frontier import State
from eventstore.relay.outbox import Published


# The arrays go as text literals joined here: psycopg dumping 5,000-element lists cost 10x more.
def _array(values: Sequence[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


# A batch's record is one statement (so, in autocommit, one transaction in one round trip):
# an es_relay_batch row per topic with each event's partition and offset (consistency tokens
# resolve through it), each partition's highest offset (es_relay_mark: a restart recovers only
# what lies after it), then the frontier and gaps (es_relay_state). Data-modifying CTEs run
# exactly once each, on different tables. (Three statements in an explicit transaction cost
# the marker thread three times the Python per batch, a third of the relay's CPU at a steady
# pace.)
_BATCH_ROW = "(%s, %s, %s, %s::bigint[], %s::int[], %s::bigint[], now())"
_RECORD_SQL = """
WITH batch AS (
    INSERT INTO es_relay_batch (topic, lo, hi, outbox_ids, partitions, offsets, published_at)
    VALUES {rows}
), mark AS (
    INSERT INTO es_relay_mark (topic, kafka_partition, kafka_offset)
    SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[])
    ON CONFLICT (topic, kafka_partition)
    DO UPDATE SET kafka_offset = greatest(es_relay_mark.kafka_offset, EXCLUDED.kafka_offset)
)
"""
_STATE_SQL = """
INSERT INTO es_relay_state (id, frontier, gap_lo, gap_hi, updated_at)
VALUES (1, %s, %s::bigint[], %s::bigint[], now())
ON CONFLICT (id) DO UPDATE SET frontier = EXCLUDED.frontier, gap_lo = EXCLUDED.gap_lo,
    gap_hi = EXCLUDED.gap_hi, updated_at = now()
"""
_END_SQL = "SELECT 1"  # (the CTEs need a statement after them when no state goes along)


def _highest_per_partition(published: Sequence[tuple[str, int, int]]) -> list[list[Any]]:
    """(topic, partition, offset) triples -> the unnest() columns of each partition's highest."""
    highest: dict[tuple[str, int], int] = {}
    for topic, partition, offset in published:
        if offset > highest.get((topic, partition), -1):
            highest[(topic, partition)] = offset
    return [[t for t, _ in highest], [p for _, p in highest], list(highest.values())]


def record_statement(
    delivered: Sequence[Published], state: State | None = None
) -> tuple[str, list[Any]]:
    """The one statement recording `delivered` (and `state`, if given) and its parameters."""
    params: list[Any] = []
    sql = ""
    if delivered:
        by_topic: dict[str, list[Published]] = {}
        for p in delivered:
            by_topic.setdefault(p.topic, []).append(p)
        for topic, published in by_topic.items():
            ids = [p.outbox_id for p in published]
            params += [
                topic,
                min(ids),
                max(ids),
                _array(ids),
                _array([p.partition for p in published]),
                _array([p.offset for p in published]),
            ]
        params += _highest_per_partition([(p.topic, p.partition, p.offset) for p in delivered])
        sql = _RECORD_SQL.format(rows=", ".join([_BATCH_ROW] * len(by_topic)))
    if state is not None:
        params += [state.frontier, [lo for lo, _ in state.gaps], [hi for _, hi in state.gaps]]
        return sql + _STATE_SQL, params
    return sql + _END_SQL, params


def record_batch(conn: psycopg.Connection[Any], delivered: Sequence[Published]) -> None:
    """Record where each event landed (an es_relay_batch row per topic) and each partition's
    highest offset, in one statement."""
    if delivered:
        conn.execute(*record_statement(delivered))


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
                        conn.execute(*record_statement(delivered, state))
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
