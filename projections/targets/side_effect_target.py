"""A side effect's target: "applying" an event records its job with the checkpoint; a Celery task
runs it after commit (projections/side_effects.py run_job)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from eventstore.events import EventEnvelope
from eventstore.projection import (
    SideEffect,
)
from eventstore.serialization import encode_envelope
from projections.targets.postgres_target import PostgresTarget
from projections.wakeups import run_side_effect_jobs


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
        created: list[int] = []
        with transaction.atomic():
            ok = super().apply(
                topic,
                partition,
                [],
                expected_offset=expected_offset,
                next_offset=next_offset,
                dead_letters=dead_letters,
            )
            if not ok:
                return False
            if envelopes:
                with connection.cursor() as cur:
                    # One statement for the batch's jobs (a round trip each cost the follower
                    # a millisecond an event under load); ids in the events' order.
                    cur.execute(
                        "INSERT INTO proj_side_effect (effect, event_id, event_type, stream_id, "
                        "message, status, attempts, error, created_at) "
                        "SELECT %s, e.event_id, e.event_type, e.stream_id, e.message, 'pending', "
                        "0, '', now() FROM unnest(%s::uuid[], %s::text[], %s::text[], "
                        "%s::bytea[]) WITH ORDINALITY AS e(event_id, event_type, stream_id, "
                        "message, n) ORDER BY e.n "
                        "ON CONFLICT (effect, event_id) DO NOTHING RETURNING id",
                        [
                            self.effect.name,
                            [envelope.event_id for envelope in envelopes],
                            [envelope.event_type for envelope in envelopes],
                            [envelope.stream_id for envelope in envelopes],
                            [encode_envelope(envelope) for envelope in envelopes],
                        ],
                    )
                    created = sorted(row[0] for row in cur.fetchall())
            if created:
                queue = self.effect.queue
                transaction.on_commit(lambda: run_side_effect_jobs(created, queue))
        return True

    def apply_redrive(self, envelope: EventEnvelope, dead_letter_id: int) -> None:
        raise NotImplementedError("side effects are recorded as jobs; they are not redriven")
