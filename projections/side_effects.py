"""Side effects: recorded as jobs with the checkpoint, run by Celery tasks, once per event."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from eventstore.events import EventEnvelope
from eventstore.projection import SideEffect
from eventstore.serialization import encode_envelope
from projections.targets import PostgresTarget

logger = logging.getLogger("projections.side_effects")


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
            with connection.cursor() as cur:
                for envelope in envelopes:
                    cur.execute(
                        "INSERT INTO proj_side_effect (effect, event_id, event_type, stream_id, "
                        "message, status, attempts, error, created_at) VALUES "
                        "(%s, %s, %s, %s, %s, 'pending', 0, '', now()) "
                        "ON CONFLICT (effect, event_id) DO NOTHING RETURNING id",
                        [
                            self.effect.name,
                            envelope.event_id,
                            envelope.event_type,
                            envelope.stream_id,
                            encode_envelope(envelope),
                        ],
                    )
                    row = cur.fetchone()
                    if row is not None:
                        created.append(row[0])
            if created:
                queue = self.effect.queue
                transaction.on_commit(lambda: _enqueue(created, queue))
        return True

    def apply_redrive(self, envelope: EventEnvelope, dead_letter_id: int) -> None:
        raise NotImplementedError("side effects are recorded as jobs; they are not redriven")


def _enqueue(job_ids: list[int], queue: str) -> None:
    from projections.tasks import run_side_effect

    for job_id in job_ids:
        run_side_effect.apply_async((job_id,), queue=queue)


def run_job(job_id: int, *, final_attempt: bool) -> str:
    """Run one job unless done; returns its status. Raises the handler's error to retry."""
    from projections import registry
    from projections.models import SideEffectJob

    with transaction.atomic():
        job = SideEffectJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
        if job is None:
            return "busy-or-missing"  # another worker holds it, or it does not exist
        if job.status == SideEffectJob.Status.DONE:
            return job.status
        effect = registry.side_effect(job.effect)
        from eventstore.serialization import decode_envelope

        envelope = decode_envelope(registry.event_registry(), bytes(job.message))
        job.attempts += 1
        failure: Exception | None = None
        try:
            with transaction.atomic():  # a savepoint: the handler's writes go if it fails
                effect.run(envelope)
        except Exception as exc:  # noqa: BLE001 - recorded on the job, then retried
            failure = exc
            job.error = f"{type(exc).__name__}: {exc}"
            if final_attempt:
                job.status = SideEffectJob.Status.FAILED
                logger.error("side effect %s failed for good: %s", job, job.error)
                with transaction.atomic():
                    effect.failed(envelope, job.error)
        else:
            job.status = SideEffectJob.Status.DONE
            job.done_at = timezone.now()
        job.save(update_fields=["status", "attempts", "error", "done_at"])
    if failure is not None and not final_attempt:
        raise failure
    return str(job.status)
