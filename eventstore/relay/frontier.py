"""Where the relay is in the outbox: the frontier (the highest id selected so far), the gaps
below it (ids seen missing, owned by transactions that may still commit), and the ids past it
already in Kafka (found by the recovery, skipped once).

Ids are taken in the append transaction, so a transaction may commit after a later id is
already visible. An id missing below the highest one selected is a gap, noted with the
transactions running just after the select; once none of them is still in progress, the next
select includes the gap: a row there is published then, and what is still missing never will
be (it rolled back). Rows after a gap go on being published: the owner of a gap holds its
stream's row lock until it commits, so no later event of that stream can be visible before it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import psycopg

from eventstore.relay.outbox import BATCH_SQL, BATCH_WITH_GAPS_SQL

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


@dataclass
class Gap:
    """Outbox ids [lo, hi] seen missing below visible ones. `running`: the transactions in
    progress just after they were seen (one of them may own the ids); `settled` once none of
    them was in progress any more before a select, which then finds all it will ever find."""

    lo: int
    hi: int
    running: frozenset[int]
    settled: bool = False


@dataclass(frozen=True)
class State:
    """What es_relay_state holds once a batch is recorded."""

    frontier: int
    gaps: tuple[tuple[int, int], ...]


class Frontier:
    def __init__(self) -> None:
        self.position = 0
        self.gaps: list[Gap] = []
        self.skip: set[int] = set()  # after the frontier or in a gap, but already in Kafka

    def load(self, conn: psycopg.Connection[Any]) -> None:
        """The frontier and gaps as of the last recorded batch. The gaps' owners are unknown
        after a restart: any transaction running now may be one."""
        row = conn.execute(
            "SELECT frontier, gap_lo, gap_hi FROM es_relay_state WHERE id = 1"
        ).fetchone()
        if row is None:
            # Never recorded (or the state was deleted): start from the first row, skipping any
            # a batch record says are in Kafka already.
            self.position, self.gaps = 0, []
            self.skip = {
                r[0]
                for r in conn.execute("SELECT unnest(outbox_ids) FROM es_relay_batch").fetchall()
            }
            return
        frontier, gap_lo, gap_hi = row
        running = self.running(conn)
        self.position = int(frontier)
        self.gaps = [Gap(lo, hi, running) for lo, hi in zip(gap_lo, gap_hi, strict=True)]
        self.skip = set()

    @staticmethod
    def running(conn: psycopg.Connection[Any]) -> frozenset[int]:
        row = conn.execute(_RUNNING_SQL).fetchone()
        return frozenset(row[0]) if row else frozenset()

    def select(self, conn: psycopg.Connection[Any], limit: int) -> list[Any]:
        """The next rows after the frontier, and those committed in settled or filled gaps."""
        self._settle(conn)
        if self.gaps:
            return conn.execute(
                BATCH_WITH_GAPS_SQL,
                [self.position, limit, [g.lo for g in self.gaps], [g.hi for g in self.gaps]],
            ).fetchall()
        return conn.execute(BATCH_SQL, [self.position, limit]).fetchall()

    def take(self, conn: psycopg.Connection[Any], rows: list[Any]) -> tuple[list[Any], bool]:
        """Take in the rows a select returned: the ones to publish (not already in Kafka), and
        whether the frontier or the gaps changed."""
        changed = self._advance(conn, [row[0] for row in rows])
        if self.skip:
            rows = [row for row in rows if row[0] not in self.skip]
            self.skip = {i for i in self.skip if i > self.position}  # the rest were seen
        return rows, changed

    def _settle(self, conn: psycopg.Connection[Any]) -> None:
        """Settle the gaps none of whose transactions is still in progress: the next select,
        made after this check, sees every row they will ever hold."""
        waiting = [g for g in self.gaps if not g.settled]
        if not waiting:
            return
        xids = sorted(set().union(*(g.running for g in waiting)))
        still = (
            {r[0] for r in conn.execute(_STILL_RUNNING_SQL, [xids]).fetchall()} if xids else set()
        )
        for gap in waiting:
            gap.settled = not (gap.running & still)

    def _advance(self, conn: psycopg.Connection[Any], ids: list[int]) -> bool:
        """Take in the ids a select returned (ascending): fill gaps, drop settled ones, note new
        ones, move the frontier. Returns whether anything changed."""
        changed = False
        gaps: list[Gap] = []
        for gap in self.gaps:
            inside = ids[bisect.bisect_left(ids, gap.lo) : bisect.bisect_right(ids, gap.hi)]
            if gap.settled:  # what it does not hold now, it never will
                changed = True
                continue
            lo = gap.lo
            for i in inside:
                changed = True
                if i > lo:
                    gaps.append(Gap(lo, i - 1, gap.running))
                lo = i + 1
            if lo <= gap.hi:
                gaps.append(Gap(lo, gap.hi, gap.running))
        start = bisect.bisect_right(ids, self.position)
        holes: list[tuple[int, int]] = []
        previous = self.position
        for i in ids[start:]:
            if i > previous + 1:
                holes.append((previous + 1, i - 1))
            previous = i
        if holes:
            running = self.running(conn)  # taken after the select: see Gap
            gaps.extend(Gap(lo, hi, running, settled=not running) for lo, hi in holes)
            gaps.sort(key=lambda g: g.lo)
        if previous != self.position:
            self.position = previous
            changed = True
        self.gaps = gaps
        return changed

    def in_gap(self, outbox_id: int) -> bool:
        return any(g.lo <= outbox_id <= g.hi for g in self.gaps)

    def state(self) -> State:
        return State(self.position, tuple((g.lo, g.hi) for g in self.gaps))
