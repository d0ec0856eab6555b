"""Celery entry points of the projection engine: a catch-up of a (projection, topic,
partition) under its ownership lock, a reaction's run (waiting briefly for the relay's record
of what woke it), the follower's chain of slices, rebuilds, side-effect jobs and the periodic
safety net. Event payloads never travel through RabbitMQ; workers read them from Kafka. Who is
woken when: projections/wakeups.py."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from confluent_kafka import KafkaException
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from eventstore.queues import Queue, broker_countdown
from projections import locks, reactions, registry, wakeups
from projections.runner import INFRASTRUCTURE_ERRORS, catch_up
from projections.targets import target_for
from projections.wakeups import pending_key, reaction_pair, started, wake, wake_later, wake_many

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
    settled = reactions.store().settled_position()
    with connection.cursor() as cur:
        cur.execute("SELECT max(id) FROM es_outbox")
        highest = cur.fetchone()[0]
    return highest is not None and highest >= settled


def _wait_for_settling(deadline: float) -> bool:
    """Whether the settled position moved before `deadline` while outbox rows wait past it."""
    source = reactions.store()
    settled = source.settled_position()
    if not _unsettled():
        return False
    while time.monotonic() < deadline:
        time.sleep(RECORD_POLL)
        if source.settled_position() > settled:
            return True
    return False


def on_published(published: Sequence[Any]) -> None:
    """Relay hook: wake every projection reading a partition that just received events (most
    are held by the follower, whose flags make this enqueue nothing)."""
    partitions: dict[str, set[int]] = defaultdict(set)
    for p in published:
        partitions[p.topic].add(p.partition)
    # Every reaction: what was just published may be what held any of them back (they read
    # every topic up to one settled position).
    deciding = set(registry.reactions())
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
    """Periodic safety net: wake every (projection, partition) that has lag, and start the
    follower if none is running."""
    from projections.status import partitions_with_lag

    if not wakeups.is_follower_alive():
        start_following(expiration=settings.PROJECTIONS_CATCH_UP_INTERVAL)
    woken = 0
    for name, topic, partition in partitions_with_lag():
        wake(name, topic, partition, force=True)
        woken += 1
    for row in reactions.status(list(registry.reactions().values())):
        if row.lag:
            wake(*reaction_pair(row.reaction), force=True)
            woken += 1
    return woken


FOLLOW_QUEUE = Queue.FOLLOW
FOLLOW_RETRY = 5.0  # seconds before a failed slice's successor starts


def _chain_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:proj:follower:chain"


def start_following(*, expiration: float = 60.0, countdown: float | None = None) -> None:
    """Enqueue a follower slice that supersedes any earlier chain of them: each slice enqueues
    the next, and a slice whose chain was superseded (e.g. a follower worker restarted while
    its slice was queued or redelivered) ends at once, so one chain lives."""
    token = uuid.uuid4().hex
    get_redis_connection("default").set(_chain_key(), token)
    options: dict[str, Any] = {"queue": FOLLOW_QUEUE, "expiration": expiration}
    if countdown is not None:
        options["countdown"] = broker_countdown(countdown)
    follow.apply_async((token,), **options)


def _current_chain(token: str) -> bool:
    current = get_redis_connection("default").get(_chain_key())
    return current is None or current.decode() == token


@shared_task(name="projections.follow", acks_late=True, ignore_result=True)
def follow(token: str) -> int:
    """One slice of the follower (projections.follower), then the next one. Run by a worker of
    its own on the projections_follow queue (the Procfile's `follower`); a warm shutdown of that
    worker ends the slice within PROJECTIONS_FOLLOW_REFRESH."""
    from projections import follower

    if not _current_chain(token):
        return 0
    redis = get_redis_connection("default")
    stops = [_stop_key(os.getppid()), _stop_key(os.getpid())]  # prefork child, or solo

    def shutting_down() -> bool:
        return bool(redis.exists(*stops))

    countdown: float | None
    try:
        ran = follower.follow(should_stop=shutting_down)
    except Exception:  # noqa: BLE001 - whatever it was, the live tail must come back
        logger.exception("follower: slice failed; the next one starts in a few seconds")
        ran, countdown = True, FOLLOW_RETRY
    else:
        # Not run: another follower's slice holds the lock (a superseded chain, ending soon).
        countdown = None if ran else settings.PROJECTIONS_FOLLOW_REFRESH
    if _current_chain(token):
        start_following(countdown=countdown)
    return int(ran)


def _stop_key(pid: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:proj:follower:stop:{pid}"


@worker_shutting_down.connect
def _stop_following(**_: Any) -> None:
    """A warm shutdown waits for running tasks: tell a follower slice running in this worker
    (in its pool process) to end now rather than at the end of its slice."""
    try:
        get_redis_connection("default").set(_stop_key(os.getpid()), 1, ex=60)
    except Exception:  # noqa: BLE001 - shutting down anyway; the slice then runs to its end
        logger.warning("follower: could not ask the slice to stop", exc_info=True)


@worker_ready.connect
def _follow_when_ready(sender: Any, **_: Any) -> None:
    """A worker that consumes the follower's queue starts following as soon as it is up."""
    if FOLLOW_QUEUE in (sender.app.amqp.queues.consume_from or {}):
        start_following()


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
    for job_id, effect in stale:
        known = registry.side_effects().get(effect)
        queue = known.queue if known is not None else Queue.SIDE_EFFECTS
        run_side_effect.apply_async((job_id,), queue=queue)
    return len(stale)


@shared_task(name="ops.sample_console", ignore_result=True)
def sample_console() -> int:
    """One sample of every consumer's lag and position for the console's rates and charts."""
    from projections import console

    return len(console.record())
