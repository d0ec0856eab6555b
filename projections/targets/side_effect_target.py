"""A side effect's target: "applying" an event records its job with the checkpoint; a Celery task
runs it after commit (projections/side_effects.py run_job)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from eventstore.events import EventEnvelope
from eventstore.projection import (
    SideEffect,
)
from eventstore.serialization import encode_envelope
from projections.targets.base import write_dead_letters
from projections.targets.postgres_target import (
    _ADVANCE,
    CHECKPOINT_MOVED,
    PostgresTarget,
    _sqlstate,
)
from projections.wakeups import run_side_effect_jobs

logger = logging.getLogger("projections.side_effects")

# A side effect's batch: (target, topic, partition, envelopes, expected offset, next offset).
SideEffectPart = tuple["SideEffectTarget", str, int, Sequence[EventEnvelope], int, int]

# The batch's jobs in one statement, their ids in the events' order.
_RECORD = (
    "INSERT INTO proj_side_effect (effect, event_id, event_type, stream_id, message, status, "
    "attempts, error, created_at) SELECT %s, e.event_id, e.event_type, e.stream_id, e.message, "
    "'pending', 0, '', now() FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::bytea[]) "
    "WITH ORDINALITY AS e(event_id, event_type, stream_id, message, n) ORDER BY e.n "
    "ON CONFLICT (effect, event_id) DO NOTHING RETURNING id"
)


class SideEffectTarget(PostgresTarget):
    """'Applying' an event to a side effect records its job; the task runs it after commit."""

    asynchronous_commit = False  # a job, once its task has been sent, is not lost in a crash

    def __init__(self, effect: SideEffect) -> None:
        self.effect = effect
        self.projection = effect  # type: ignore[assignment]
        self.checkpoint_name = effect.name
        self.schema = None

    def setup(self) -> None:
        pass

    def apply(
        self,
        topic: str,
        partition: int,
        envelopes: Sequence[EventEnvelope],
        *,
        expected_offset: int,
        next_offset: int,
        dead_letters: Sequence[dict[str, Any]] = (),
    ) -> bool:
        part = (self, topic, partition, envelopes, expected_offset, next_offset)
        return apply_together([part], dead_letters)

    def record(self, cur: Any, envelopes: Sequence[EventEnvelope]) -> list[int]:
        """Record a job per envelope (none twice): the ids of those recorded now."""
        if not envelopes:
            return []
        cur.execute(
            _RECORD,
            [
                self.effect.name,
                [envelope.event_id for envelope in envelopes],
                [envelope.event_type for envelope in envelopes],
                [envelope.stream_id for envelope in envelopes],
                [encode_envelope(envelope) for envelope in envelopes],
            ],
        )
        return sorted(row[0] for row in cur.fetchall())

    def apply_redrive(self, envelope: EventEnvelope, dead_letter_id: int) -> None:
        raise NotImplementedError("side effects are recorded as jobs; they are not redriven")


def apply_together(
    parts: Sequence[SideEffectPart], dead_letters: Sequence[dict[str, Any]] = ()
) -> bool:
    """Side effects' batches (of one or several partitions and side effects), each with its
    checkpoint's move, in one transaction: their jobs recorded (a statement a batch), one commit
    that waits for the disk, then every job's task sent together (one wait for the broker's
    confirms). In the follower a side effect's partitions each cost one of each before: a
    commit and a confirm per partition of a poll. False if a checkpoint was not where expected:
    nothing was written."""
    jobs: list[tuple[int, str]] = []
    try:
        with transaction.atomic(), connection.cursor() as cur:
            for target, topic, partition, envelopes, expected, next_offset in parts:
                cur.execute(
                    _ADVANCE, [target.checkpoint_name, topic, partition, expected, next_offset]
                )
                jobs += [(job, target.effect.queue) for job in target.record(cur, envelopes)]
            write_dead_letters(cur, dead_letters)
            if jobs:
                transaction.on_commit(lambda: _send(jobs))
    except Exception as exc:
        if _sqlstate(exc) == CHECKPOINT_MOVED:  # raised by a move: nothing was written
            return False
        raise
    return True


def _send(jobs: list[tuple[int, str]]) -> None:
    """The committed jobs' tasks. If they cannot be sent, the jobs are recorded and pending:
    `side_effects.sweep` sends them (the batch was applied, and is not applied again)."""
    try:
        run_side_effect_jobs(jobs)
    except Exception:  # noqa: BLE001 - the sweep sends what is pending
        logger.warning(
            "%d side-effect jobs recorded but their tasks not sent; the sweep will send them",
            len(jobs),
            exc_info=True,
        )
