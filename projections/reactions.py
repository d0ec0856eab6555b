"""Running reactions (eventstore.reaction): in the store's log order, once per event, on the
facts as of each event; never by a replay.

- **Order.** A reaction reads the events of its topics from the store, in log position order
  (the outbox id: the order in which the relay hands events to Kafka), and only below the
  settled position (`PostgresEventStore.settled_position`): every position below it is
  committed and published, or rolled back for good, so no event can later appear behind one it
  has read. Order across modules thus comes from the store, never from clocks or from how far
  each read model has got. Two appends that do not overlap in time are in commit order; two
  that overlap are in the order they took their positions, the same order Kafka got them in.
- **Exactly once in effect.** A batch's decisions (the commands a handler issues append in the
  same transaction, in savepoints), its facts and the move of its checkpoint
  (`proj_reaction.next_position`, conditional on where it was) commit together; a task
  redelivered after a kill -9, or a second runner, finds the checkpoint moved and applies
  nothing twice.
- **Facts as of the event.** `Facts` reads see what was recorded at positions before the
  event, writes are recorded at its position; the history is kept, so a redriven dead letter
  or an operator's re-run decides as it would have in order.
- **Poison events** are retried alone, then parked in `proj_dead_letter` (topic `store`,
  partition 0, offset = log position) with later events of the same stream blocked behind
  them; other streams go on. `manage.py dead_letters redrive` applies them in order, on the
  facts as of each.
- **An operator moves a reaction only on purpose** (`manage.py reactions reset`, with
  `--dry-run`): back, to decide again on a range (a decision whose ids derive from its event
  creates nothing new), or ahead, to skip deciding on a range (its facts are still recorded).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from eventstore.events import EventEnvelope
from eventstore.postgres import PostgresEventStore
from eventstore.reaction import Reaction
from eventstore.runtime import get_store
from eventstore.serialization import encode_envelope
from projections import registry
from projections.runner import INFRASTRUCTURE_ERRORS, dead_letter_row, parked_streams
from projections.targets import write_dead_letters

logger = logging.getLogger("projections.reactions")

# The "topic" and "partition" under which a reaction's lock, wake-up flags and dead letters
# are kept: it reads one sequence, the store's log, not Kafka partitions.
STORE_LOG = "store"
STORE_PARTITION = 0


class Conflict(Exception):
    """The checkpoint was not where the batch started: another runner moved it."""


class PostgresFacts:
    """`eventstore.reaction.Facts` in proj_fact, as of one log position, in the caller's
    transaction."""

    _AS_OF = "valid_from < %s AND (valid_to IS NULL OR valid_to >= %s)"

    def __init__(self, cur: Any, reaction: str, position: int) -> None:
        self.cur, self.reaction, self.position = cur, reaction, position

    def put(self, scope: str, subject: str, key: str = "", value: Any = True) -> None:
        self.cur.execute(
            "SELECT proj_fact_put(%s, %s, %s, %s, %s::jsonb, %s)",
            [self.reaction, scope, subject, key, json.dumps(value), self.position],
        )

    def drop(self, scope: str, subject: str, key: str = "") -> None:
        self.cur.execute(
            "SELECT proj_fact_drop(%s, %s, %s, %s, %s)",
            [self.reaction, scope, subject, key, self.position],
        )

    def forget(self, ident: str) -> None:
        self.cur.execute(
            "SELECT proj_fact_forget(%s, %s, %s)", [self.reaction, ident, self.position]
        )

    def get(self, scope: str, subject: str, key: str = "") -> Any:
        self.cur.execute(
            "SELECT value::text FROM proj_fact WHERE reaction = %s AND scope = %s "
            f"AND subject = %s AND key = %s AND {self._AS_OF} LIMIT 1",
            [self.reaction, scope, subject, key, self.position, self.position],
        )
        row = self.cur.fetchone()
        return json.loads(row[0]) if row else None

    def keys(self, scope: str, subject: str) -> list[str]:
        self.cur.execute(
            "SELECT key FROM proj_fact WHERE reaction = %s AND scope = %s AND subject = %s "
            f"AND {self._AS_OF} ORDER BY key",
            [self.reaction, scope, subject, self.position, self.position],
        )
        return [row[0] for row in self.cur.fetchall()]

    def subjects(self, scope: str, key: str = "") -> list[str]:
        self.cur.execute(
            "SELECT subject FROM proj_fact WHERE reaction = %s AND scope = %s AND key = %s "
            f"AND {self._AS_OF} ORDER BY subject",
            [self.reaction, scope, key, self.position, self.position],
        )
        return [row[0] for row in self.cur.fetchall()]


def store() -> PostgresEventStore:
    found = get_store()
    if not isinstance(found, PostgresEventStore):
        raise TypeError("reactions read the store's log: they need the Postgres event store")
    return found


def topics_of(reaction: Reaction) -> list[str]:
    return [f"{settings.KAFKA_TOPIC_PREFIX}{module}.events" for module in reaction.topics]


@dataclass(frozen=True)
class Checkpoint:
    next_position: int
    decide_from: int


def position(name: str) -> Checkpoint | None:
    """Where the reaction is; None before it first ran. Changes nothing (for status, metrics,
    consistency waits and dry runs)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT next_position, decide_from FROM proj_reaction WHERE reaction = %s", [name]
        )
        row = cur.fetchone()
    return Checkpoint(int(row[0]), int(row[1])) if row else None


def checkpoint(name: str) -> Checkpoint:
    """Where the reaction is, starting it if it never ran (see _start): for its runner and an
    operator's reset only."""
    return position(name) or _start(name)


# The first log position of an event the reaction decides on that a Kafka consumer (read model
# or side effect) of its name had not handled: in Kafka at or past that consumer's checkpoint
# on its partition (every partition of the reaction's topics: one it never read counts from
# 0), in a side-effect job not done, or parked. (Unpublished events are past the settled
# position, which bounds it too.) The relay's batch records are read whole, once.
_FIRST_UNHANDLED = """
WITH ck AS (SELECT topic, partition, next_offset FROM proj_checkpoint WHERE projection = %(name)s)
SELECT least(
    (SELECT min(u.id) FROM es_relay_batch b
         CROSS JOIN LATERAL unnest(b.outbox_ids, b.partitions, b.offsets) AS u(id, p, off)
         LEFT JOIN ck ON ck.topic = b.topic AND ck.partition = u.p
         JOIN es_outbox o ON o.id = u.id
         JOIN es_event e ON e.position = o.event_position
     WHERE b.topic = ANY(%(topics)s) AND u.off >= coalesce(ck.next_offset, 0)
         AND e.event_type = ANY(%(deciding)s)),
    (SELECT min(o.id) FROM proj_side_effect j JOIN es_event e ON e.event_id = j.event_id
         JOIN es_outbox o ON o.event_position = e.position
     WHERE j.effect = %(name)s AND j.status <> 'done'),
    (SELECT min(o.id) FROM proj_dead_letter d JOIN es_event e ON e.event_id = d.event_id
         JOIN es_outbox o ON o.event_position = e.position
     WHERE d.projection = %(name)s AND d.topic <> %(store)s AND d.status IN ('parked', 'blocked'))
)
"""


def _start(name: str) -> Checkpoint:
    """A reaction's first checkpoint: at the start of the log, deciding from there; or, when it
    takes over from a Kafka consumer of the same name (a read model or side effect that decided,
    before reactions were their own kind), recording facts from the start but deciding only from
    the first event that consumer had not handled, so that nothing is missed. (Events past that
    one which the consumer had handled on other partitions are decided again: a decision whose
    ids derive from its event creates nothing new.) The consumer's checkpoints, pending jobs and
    dead letters are retired in the same transaction."""
    reaction = registry.reaction(name)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('proj_reaction:' || %s))", [name])
        cur.execute("SELECT 1 FROM proj_checkpoint WHERE projection = %s LIMIT 1", [name])
        decide_from = 0
        if cur.fetchone() is not None:
            cur.execute(
                _FIRST_UNHANDLED,
                {
                    "name": name,
                    "store": STORE_LOG,
                    "topics": topics_of(reaction),
                    "deciding": sorted(t for t in reaction.event_types if reaction.decides_on(t)),
                },
            )
            first = cur.fetchone()[0]
            settled = store().settled_position()
            decide_from = settled if first is None else min(int(first), settled)
            cur.execute("DELETE FROM proj_checkpoint WHERE projection = %s", [name])
            cur.execute(
                "DELETE FROM proj_side_effect WHERE effect = %s AND status = 'pending'", [name]
            )  # (failed ones stay, for the record; the reaction decides their events again)
            cur.execute(
                "UPDATE proj_dead_letter SET status = 'skipped', resolved_at = now(), "
                "error = error || ' (taken over by the reaction)' "
                "WHERE projection = %s AND topic <> %s AND status IN ('parked', 'blocked')",
                [name, STORE_LOG],
            )
            logger.warning(
                "%s: a reaction now; it takes over from the consumer of that name and decides "
                "from log position %s (facts from the start)",
                name,
                decide_from,
            )
        cur.execute(
            "INSERT INTO proj_reaction (reaction, next_position, decide_from, updated_at) "
            "VALUES (%s, 0, %s, now()) ON CONFLICT (reaction) DO NOTHING",
            [name, decide_from],
        )
        cur.execute(
            "SELECT next_position, decide_from FROM proj_reaction WHERE reaction = %s", [name]
        )
        row = cur.fetchone()
    return Checkpoint(int(row[0]), int(row[1]))


def _move(cur: Any, name: str, expected: int, next_position: int) -> None:
    cur.execute(
        "UPDATE proj_reaction SET next_position = %s, updated_at = now() "
        "WHERE reaction = %s AND next_position = %s",
        [next_position, name, expected],
    )
    if cur.rowcount != 1:
        raise Conflict(name)


def _commit(
    reaction: Reaction,
    events: Sequence[tuple[int, EventEnvelope]],
    *,
    expected: int,
    next_position: int,
    decide_from: int,
    dead_letters: Sequence[dict[str, Any]] = (),
) -> bool:
    """Apply events (decisions and facts) and move the checkpoint, in one transaction; False
    if the checkpoint had moved (nothing applied)."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            _move(cur, reaction.name, expected, next_position)
            for position, envelope in events:
                facts = PostgresFacts(cur, reaction.name, position)
                reaction.apply(facts, envelope, decide=position >= decide_from)
            write_dead_letters(cur, dead_letters)
    except Conflict:
        return False
    return True


@dataclass
class Run:
    applied: int = 0
    dead_lettered: int = 0
    reached_end: bool = False
    conflicts: int = 0


def run(
    reaction: Reaction,
    *,
    batch_size: int | None = None,
    max_seconds: float | None = None,
) -> Run:
    """Apply the reaction's events from its checkpoint to the settled position (or for at most
    `max_seconds`). The caller owns the reaction (`locks.run_owned`); the checkpoint's fence
    keeps it exactly once even if it does not."""
    batch_size = batch_size or settings.PROJECTIONS_BATCH_SIZE
    source = store()
    topics, types = topics_of(reaction), sorted(reaction.event_types)
    result = Run()
    started = time.monotonic()
    while True:
        at = checkpoint(reaction.name)
        settled = source.settled_position()
        if at.next_position >= settled:
            result.reached_end = True
            return result
        events = source.read_log(
            at.next_position, settled, topics=topics, event_types=types, limit=batch_size
        )
        next_position = events[-1][0] + 1 if len(events) == batch_size else settled
        if not _apply_batch(reaction, events, at, next_position, result):
            result.conflicts += 1
            continue
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            return result


def _apply_batch(
    reaction: Reaction,
    events: list[tuple[int, EventEnvelope]],
    at: Checkpoint,
    next_position: int,
    result: Run,
) -> bool:
    parked = parked_streams(reaction.name)
    if not any(env.stream_id in parked for _, env in events):
        try:
            ok = _commit(
                reaction,
                events,
                expected=at.next_position,
                next_position=next_position,
                decide_from=at.decide_from,
            )
            if ok:
                result.applied += len(events)
            return ok
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - a handler failed: find the poison event alone
            logger.warning(
                "%s: batch at %s failed; isolating the poison event",
                reaction.name,
                at.next_position,
                exc_info=True,
            )
    return _apply_one_by_one(reaction, events, at, next_position, parked, result)


def _apply_one_by_one(
    reaction: Reaction,
    events: list[tuple[int, EventEnvelope]],
    at: Checkpoint,
    next_position: int,
    parked: set[str],
    result: Run,
) -> bool:
    expected = at.next_position
    for position, envelope in events:
        dead: list[dict[str, Any]] = []
        if envelope.stream_id in parked:
            dead.append(_dead_letter(reaction.name, position, envelope, "blocked"))
        else:
            failure = _try_alone(reaction, position, envelope, expected, at.decide_from)
            if failure is None:
                result.applied += 1
                expected = position + 1
                continue
            if not isinstance(failure, tuple):
                return False  # "conflict": another runner moved the checkpoint
            dead.append(_dead_letter(reaction.name, position, envelope, "parked", failure))
            parked.add(envelope.stream_id)
        if not _commit(
            reaction,
            (),
            expected=expected,
            next_position=position + 1,
            decide_from=at.decide_from,
            dead_letters=dead,
        ):
            return False
        result.dead_lettered += 1
        expected = position + 1
    return _commit(
        reaction, (), expected=expected, next_position=next_position, decide_from=at.decide_from
    )


def _try_alone(
    reaction: Reaction, position: int, envelope: EventEnvelope, expected: int, decide_from: int
) -> str | tuple[str, str] | None:
    """None if applied, "conflict", or the last failure as (error, traceback)."""
    attempts = max(1, settings.PROJECTIONS_MAX_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        try:
            ok = _commit(
                reaction,
                [(position, envelope)],
                expected=expected,
                next_position=position + 1,
                decide_from=decide_from,
            )
            return None if ok else "conflict"
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - kept with the dead letter
            if attempt == attempts:
                return f"{type(exc).__name__}: {exc}".strip()[:1000], traceback.format_exc()
            time.sleep(settings.PROJECTIONS_RETRY_BACKOFF * attempt)
    return None  # unreachable


def _dead_letter(
    name: str,
    position: int,
    env: EventEnvelope,
    status: str,
    failure: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    message = encode_envelope(env)
    return dead_letter_row(
        name, STORE_LOG, STORE_PARTITION, position, env, message, status, failure
    )


def apply_redrive(reaction: Reaction, envelope: EventEnvelope, dead_letter_id: int) -> None:
    """Apply one dead-lettered event on the facts as of its position, and mark it resolved,
    once (the letter's row lock and status make a repeat a no-op)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            'SELECT status, "offset", topic FROM proj_dead_letter WHERE id = %s FOR UPDATE',
            [dead_letter_id],
        )
        row = cur.fetchone()
        if row is None or row[0] not in ("parked", "blocked"):
            return
        if row[2] != STORE_LOG:
            raise ValueError(
                "this dead letter was parked by the Kafka consumer the reaction replaced; it "
                "is retired when the reaction first runs (which decides its event again)"
            )
        at = position(reaction.name)
        decide_from = at.decide_from if at else 0
        position_ = int(row[1])
        reaction.apply(
            PostgresFacts(cur, reaction.name, position_),
            envelope,
            decide=position_ >= decide_from,
        )
        cur.execute(
            "UPDATE proj_dead_letter SET status = 'resolved', resolved_at = now() WHERE id = %s",
            [dead_letter_id],
        )


# ---------------------------------------------------------------------- operators


def position_of_event(event_id: uuid.UUID) -> int | None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT o.id FROM es_outbox o JOIN es_event e ON e.position = o.event_position "
            "WHERE e.event_id = %s",
            [event_id],
        )
        row = cur.fetchone()
    return int(row[0]) if row else None


def decisions_between(reaction: Reaction, start: int, stop: int) -> dict[str, int]:
    """How many events in [start, stop) the reaction decides on, per event type."""
    if stop <= start:
        return {}
    deciding = sorted(t for t in reaction.event_types if reaction.decides_on(t))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.event_type, count(*) FROM es_outbox o "
            "JOIN es_event e ON e.position = o.event_position "
            "WHERE o.id >= %s AND o.id < %s AND o.topic = ANY(%s) AND e.event_type = ANY(%s) "
            "GROUP BY 1 ORDER BY 1",
            [start, stop, topics_of(reaction), deciding],
        )
        return {event_type: int(n) for event_type, n in cur.fetchall()}


@dataclass(frozen=True)
class ResetPlan:
    reaction: str
    current: int
    to: int
    settled: int
    redecide: dict[str, int] = field(default_factory=dict)  # decided again: [to, current)
    skip: dict[str, int] = field(default_factory=dict)  # never decided: [current, to)

    def describe(self) -> list[str]:
        def counts(by_type: dict[str, int]) -> str:
            total = sum(by_type.values())
            detail = ", ".join(f"{n} {t}" for t, n in by_type.items())
            return f"{total} events" + (f" ({detail})" if detail else "")

        lines = [
            f"{self.reaction}: at log position {self.current} (settled up to "
            f"{self.settled}); reset to {self.to}"
        ]
        if self.to < self.current:
            lines.append(
                f"  decides again on {counts(self.redecide)} between {self.to} and "
                f"{self.current}; decisions already made create nothing new (their ids derive "
                "from the triggering event), facts are not recorded twice"
            )
        elif self.to > self.current:
            lines.append(
                f"  skips deciding on {counts(self.skip)} between {self.current} and "
                f"{self.to}; their facts are still recorded"
            )
        else:
            lines.append("  nothing to do: it is there already")
        return lines


def plan_reset(reaction: Reaction, to: int) -> ResetPlan:
    at = position(reaction.name) or Checkpoint(0, 0)
    current = max(at.next_position, at.decide_from)
    return ResetPlan(
        reaction=reaction.name,
        current=current,
        to=to,
        settled=store().settled_position(),
        redecide=decisions_between(reaction, to, current),
        skip=decisions_between(reaction, current, to),
    )


def reset(reaction: Reaction, to: int) -> ResetPlan:
    """Decide again from `to` (behind the checkpoint), or skip deciding up to `to` (ahead of
    it). The caller holds the reaction's lock."""
    checkpoint(reaction.name)  # started (a takeover settles where it decides from) first
    plan = plan_reset(reaction, to)
    with transaction.atomic(), connection.cursor() as cur:
        if to < plan.current:
            cur.execute(
                "UPDATE proj_reaction SET next_position = least(next_position, %s), "
                "decide_from = %s, updated_at = now() WHERE reaction = %s",
                [to, to, reaction.name],
            )
        elif to > plan.current:
            cur.execute(
                "UPDATE proj_reaction SET decide_from = %s, updated_at = now() WHERE reaction = %s",
                [to, reaction.name],
            )
    return plan


@dataclass(frozen=True)
class ReactionStatus:
    reaction: str
    next_position: int
    decide_from: int
    settled: int
    lag: int  # events of its topics and types in [next_position, settled)
    dead_letters: int
    last_error: str


def status(reactions: Sequence[Reaction]) -> list[ReactionStatus]:
    if not reactions:
        return []
    settled = store().settled_position()
    rows = []
    for reaction in reactions:
        at = position(reaction.name) or Checkpoint(0, 0)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM es_outbox o JOIN es_event e ON e.position = o.event_position "
                "WHERE o.id >= %s AND o.id < %s AND o.topic = ANY(%s) AND e.event_type = ANY(%s)",
                [at.next_position, settled, topics_of(reaction), sorted(reaction.event_types)],
            )
            lag = int(cur.fetchone()[0])
            cur.execute(
                "SELECT count(*), max(error) FILTER (WHERE status = 'parked') "
                "FROM proj_dead_letter WHERE projection = %s AND status IN ('parked', 'blocked')",
                [reaction.name],
            )
            dead, error = cur.fetchone()
        rows.append(
            ReactionStatus(
                reaction.name, at.next_position, at.decide_from, settled, lag, dead, error or ""
            )
        )
    return rows
