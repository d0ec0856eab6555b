"""The contract of a target (where a consumer writes, with its checkpoint in one atomic unit)
and the dead letters every kind of target writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from eventstore import metrics
from eventstore.events import EventEnvelope
from eventstore.projection import (
    Projection,
)

# Read models never append (code that decides is a reaction): the store refuses any append
# made while one of their handlers runs, live or in a rebuild.
APPLYING = "the application of a read model"


class Target:
    projection: Projection
    checkpoint_name: str

    def next_offset(self, topic: str, partition: int) -> int:
        raise NotImplementedError

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
        raise NotImplementedError

    def apply_redrive(self, envelope: EventEnvelope, dead_letter_id: int) -> None:
        """Apply one dead-lettered event outside the offset order (the checkpoint is already
        past it) and mark it resolved, exactly once."""
        raise NotImplementedError


_INSERT_DEAD_LETTER = """
INSERT INTO proj_dead_letter (projection, topic, partition, "offset", stream_id, stream_version,
    event_id, event_type, message, status, error, traceback, attempts, created_at)
VALUES (%(projection)s, %(topic)s, %(partition)s, %(offset)s, %(stream_id)s, %(stream_version)s,
    %(event_id)s, %(event_type)s, %(message)s, %(status)s, %(error)s, %(traceback)s,
    %(attempts)s, now())
ON CONFLICT (projection, event_id) DO UPDATE SET topic = EXCLUDED.topic,
    partition = EXCLUDED.partition, "offset" = EXCLUDED."offset", message = EXCLUDED.message,
    status = EXCLUDED.status, error = EXCLUDED.error, traceback = EXCLUDED.traceback,
    attempts = EXCLUDED.attempts, resolved_at = NULL
"""
# (An update, not "do nothing": an event resolved or skipped once and applied again (a rebuild,
# a reaction re-run) that fails again must be parked again, or it would be passed silently.)


def _mark_resolved(cur: Any, dead_letter_id: int) -> None:
    cur.execute(
        "UPDATE proj_dead_letter SET status = 'resolved', resolved_at = now() WHERE id = %s",
        [dead_letter_id],
    )


def write_dead_letters(cur: Any, rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        cur.execute(_INSERT_DEAD_LETTER, row)
        # Counted once the caller's transaction commits: a refused batch parks nothing.
        transaction.on_commit(metrics.DEAD_LETTERS.labels(row["projection"]).inc)
