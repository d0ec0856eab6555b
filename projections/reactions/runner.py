"""Running a reaction: batches of the store's log applied with their facts and the move of the
checkpoint in one transaction; a failing batch event by event; poison events parked."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from eventstore import metrics, tracing
from eventstore.events import EventEnvelope
from eventstore.reaction import Reaction
from eventstore.serialization import encode_envelope
from projections.reactions import checkpoints
from projections.reactions.checkpoints import Checkpoint
from projections.reactions.facts import PostgresFacts
from projections.runner import INFRASTRUCTURE_ERRORS, dead_letter_row, parked_streams
from projections.targets import write_dead_letters
from projections.wakeups import STORE_LOG, STORE_PARTITION

logger = logging.getLogger("projections.reactions")


class Conflict(Exception):
    """The checkpoint was not where the batch started: another runner moved it."""


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
                decide = position >= decide_from
                with tracing.events_span(
                    f"react {reaction.name}",
                    [envelope.trace_context],
                    replay=not decide,  # facts only: link to the old trace, do not join it
                    attributes={"reaction": reaction.name, "event.type": envelope.event_type},
                ):
                    reaction.apply(facts, envelope, decide=decide)
            write_dead_letters(cur, dead_letters)
    except Conflict:
        return False
    metrics.REACTION_EVENTS.labels(reaction.name).inc(len(events))
    now = datetime.now(UTC)
    metrics.observe_many(
        metrics.REACTION_SECONDS.labels(reaction.name),
        ((now - e.occurred_at).total_seconds() for p, e in events if p >= decide_from),
    )
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
    source = checkpoints.store()
    topics, types = checkpoints.topics_of(reaction), sorted(reaction.event_types)
    result = Run()
    started = time.monotonic()
    at = checkpoints.checkpoint(reaction.name)
    while True:
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
            at = checkpoints.checkpoint(reaction.name)  # moved by someone else: from there
            continue
        # The batch moved the checkpoint there, past its fence: no need to read it again.
        at = checkpoints.Checkpoint(next_position, at.decide_from)
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
        at = checkpoints.position(reaction.name)
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
