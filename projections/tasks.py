"""Celery entry points of the projection engine: a catch-up of a (projection, topic,
partition) under its ownership lock, a reaction's run (waiting briefly for the relay's record
of what woke it), rebuilds, side-effect jobs and the periodic safety net (the followers are
processes of their own: projections/follower.py). Event payloads never travel through
RabbitMQ; workers read them from Kafka. Who is woken when: projections/wakeups.py."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from celery import shared_task
from confluent_kafka import KafkaException
from django.conf import settings

from eventstore.queues import Queue
from projections import locks, reactions, registry
from projections.runner import INFRASTRUCTURE_ERRORS, catch_up
from projections.targets import target_for
from projections.wakeups import (
    pending_key,
    reaction_pair,
    run_side_effect_jobs,
    started,
    wake,
    wake_later,
    wake_many,
)

__all__ = ["pending_key", "wake"]  # for operators and tests: `from projections.tasks import wake`

logger = logging.getLogger("projections")


@shared_task(
    name="projections.catch_up",
    acks_late=True,
    ignore_result=True,  # nobody reads it; an rpc result costs a round trip per task
    reject_on_worker_lost=True,
    autoretry_for=(*INFRASTRUCTURE_ERRORS, KafkaException),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=8,
)
def catch_up_partition(name: str, topic: str, partition: int) -> dict[str, Any]:
    """Apply the partition past the projection's checkpoint, for at most one time slice; a
    longer backlog re-enqueues itself behind other work, so one projection catching up on a
    large backlog cannot starve the others that share the workers."""
    projection = registry.consumer(name)
    started(name, topic, partition)
    totals = {"applied": 0, "dead_lettered": 0}
    unfinished = {"more": False}

    def work() -> None:
        result = catch_up(
            projection,
            target_for(projection),
            topic,
            partition,
            registry=registry.event_registry(),
            max_seconds=settings.PROJECTIONS_TASK_SLICE,
        )
        totals["applied"] += result.applied
        totals["dead_lettered"] += result.dead_lettered
        unfinished["more"] = not result.reached_end

    locks.run_owned(name, topic, partition, work)
    if unfinished["more"]:
        wake(name, topic, partition)
    return totals


# How long a woken reaction waits for the relay to record what it published (the record runs
# beside the wake-up), polling every RECORD_POLL seconds; and, if events are still unsettled
# after that (a transaction held open, a gap that rolled back and is not yet dropped), in how
# many seconds it looks again.
RECORD_WAIT = 1.0
RECORD_POLL = 0.02
LOOK_AGAIN = 1.0


@shared_task(
    name="projections.react",
    acks_late=True,
    ignore_result=True,
    reject_on_worker_lost=True,
    autoretry_for=INFRASTRUCTURE_ERRORS,
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=8,
)
def react(name: str) -> dict[str, Any]:
    """Run a reaction from its checkpoint to the settled end of the store's log, for at most
    one time slice (a longer backlog re-enqueues itself)."""
    reaction = registry.reaction(name)
    pair = reaction_pair(name)
    started(*pair)
    totals = {"applied": 0, "dead_lettered": 0}
    unfinished = {"more": False}

    def work() -> None:
        deadline = time.monotonic() + settings.PROJECTIONS_TASK_SLICE
        waited_until = time.monotonic() + RECORD_WAIT
        while True:
            result = reactions.run(reaction, max_seconds=settings.PROJECTIONS_TASK_SLICE)
            totals["applied"] += result.applied
            totals["dead_lettered"] += result.dead_lettered
            if not result.reached_end or time.monotonic() > deadline:
                unfinished["more"] = not result.reached_end
                return
            # The relay wakes us as Kafka acknowledges, and records the batch beside that:
            # wait (briefly) for the record, so that what woke us is applied now.
            if not _wait_for_settling(min(deadline, waited_until)):
                return

    locks.run_owned(*pair, work)
    if unfinished["more"]:
        wake(*pair)
    elif _unsettled():
        wake_later(pair, LOOK_AGAIN)
    return totals


def _unsettled() -> bool:
    """Whether outbox rows wait past the settled position."""
    settled, end = reactions.store().log_ends()
    return end > settled


def _wait_for_settling(deadline: float) -> bool:
    """Whether the settled position moved before `deadline` while outbox rows wait past it."""
    source = reactions.store()
    settled, end = source.log_ends()  # (one query: this runs after every reaction's batch)
    if end <= settled:
        return False
    while time.monotonic() < deadline:
        time.sleep(RECORD_POLL)
        if source.settled_position() > settled:
            return True
    return False


def on_published(published: Sequence[Any]) -> None:
    """Relay hook: wake every projection reading a partition that just received events (most
    are held by the follower, whose flags make this enqueue nothing), and every reaction that
    handles one of the events' types.

    A reaction reads the store's log up to one settled position for all topics, so an event
    published may be what held another one back (a gap before it in the log). A reaction is
    woken by the publication of its own events, though, and a run that meets such a gap waits
    for the relay's record to settle past it (`react`, up to RECORD_WAIT), then looks again
    after LOOK_AGAIN. Waking every reaction at every publication cost each of them a task, a
    read of the log and a checkpoint's move for events it does not handle."""
    partitions: dict[str, set[int]] = defaultdict(set)
    types: dict[str, set[str | None]] = defaultdict(set)
    for p in published:
        partitions[p.topic].add(p.partition)
        types[p.topic].add(p.event_type)
    deciding = {
        name
        for name, reaction in registry.reactions().items()
        if any(
            event_type is None or reaction.handles_type(event_type)
            for topic in reactions.topics_of(reaction)
            for event_type in types.get(topic, ())
        )
    }
    wake_many(
        [
            (projection.name, topic, partition)
            for topic, parts in partitions.items()
            for projection in registry.readers_of(topic)
            for partition in sorted(parts)
        ]
        + [reaction_pair(name) for name in sorted(deciding)]
    )


@shared_task(name="projections.catch_up_all", acks_late=True, ignore_result=True)
def catch_up_all() -> int:
    """Periodic safety net: wake every (projection, partition) that has lag."""
    from projections.status import partitions_with_lag

    woken = 0
    for name, topic, partition in partitions_with_lag():
        wake(name, topic, partition, force=True)
        woken += 1
    for row in reactions.status(list(registry.reactions().values())):
        if row.lag:
            wake(*reaction_pair(row.reaction), force=True)
            woken += 1
    return woken


@shared_task(name="projections.rebuild", acks_late=True)
def rebuild(name: str) -> int:
    """Rebuild one projection from the beginning of the log (resumes if one was stopped)."""
    from projections import replay

    return replay.rebuild(name)


@shared_task(
    name="side_effects.run",
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=5,
    default_retry_delay=2,
)
def run_side_effect(self: Any, job_id: int) -> str:
    """Run one side-effect job (once: a done job is skipped), retrying with backoff."""
    from projections.side_effects import run_job

    final = self.request.retries >= self.max_retries
    try:
        return run_job(job_id, final_attempt=final)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc


@shared_task(name="side_effects.sweep", acks_late=True, ignore_result=True)
def sweep_side_effects(older_than: float = 60.0) -> int:
    """Re-enqueue pending jobs whose task was lost (e.g. the process died before enqueueing)."""
    from datetime import timedelta

    from django.utils import timezone

    from projections import registry
    from projections.models import SideEffectJob

    stale = SideEffectJob.objects.filter(
        status=SideEffectJob.Status.PENDING,
        created_at__lt=timezone.now() - timedelta(seconds=older_than),
    ).values_list("id", "effect")[:10000]
    known = registry.side_effects()
    run_side_effect_jobs(  # (sent together: their confirms awaited once)
        [
            (job_id, known[effect].queue if effect in known else Queue.SIDE_EFFECTS)
            for job_id, effect in stale
        ]
    )
    return len(stale)


@shared_task(name="ops.sample_console", ignore_result=True)
def sample_console() -> int:
    """One sample of every consumer's lag and position for the console's rates and charts."""
    from projections import console

    return len(console.record())
