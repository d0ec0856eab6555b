"""Side effects: recorded as jobs with the checkpoint, run by Celery tasks, once per event."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from eventstore import logcontext, tracing

logger = logging.getLogger("projections.side_effects")


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
            with (
                transaction.atomic(),  # a savepoint: the handler's writes go if it fails
                logcontext.bound(
                    side_effect=job.effect,
                    event_id=str(envelope.event_id),
                    event_type=envelope.event_type,
                    correlation_id=str(envelope.correlation_id or envelope.event_id),
                ),
                tracing.span(f"side effect {job.effect}", event_type=envelope.event_type),
            ):
                effect.run(envelope)
                logger.info("side effect %s ran for %s", job.effect, envelope.event_type)
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
