"""Who works on a (projection, partition) next: the wake-ups and the "queued" flags.

Waking a consumer enqueues its Celery task (a catch-up for a read model's or a side effect's
partition, a run for a reaction) unless one is queued and not yet started: the flag
(`pending_key`) is set when it is enqueued and cleared when the task starts. While the follower
owns a partition the flag holds FOLLOWED, so wake-ups enqueue nothing and a starting task leaves
it alone. Tasks are enqueued by their names (`projections.catch_up`, `projections.react`,
`side_effects.run`: defined in projections/tasks.py), so this module sits below everything that
wakes: the relay's hook, the follower, the side-effect target, the tasks themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django_redis import get_redis_connection

from eventstore.queues import broker_countdown
from eventstore.sending import TaskMessage, send_tasks

# A reaction reads one sequence, the store's log, as partition 0 of a pseudo-topic: its
# (name, topic, partition) keys the same locks and flags as a read model's partition.
STORE_LOG = "store"
STORE_PARTITION = 0
FOLLOWED = "f"
QUEUED_FLAG_TTL = 60  # seconds: a lost task message suppresses wake-ups at most this long

# A task starting clears the flag so that wake-ups enqueue again; not the follower's.
_CLEAR_QUEUED = f"""
if redis.call('GET', KEYS[1]) ~= '{FOLLOWED}' then redis.call('DEL', KEYS[1]) end
"""


def pending_key(name: str, topic: str, partition: int) -> str:
    """The "queued" flag: set while a catch-up task is queued and not yet started (wake-ups
    then enqueue nothing more), or while the follower owns the partition (value FOLLOWED)."""
    return f"{settings.REDIS_KEY_PREFIX}:proj:queued:{name}:{topic}:{partition}"


def hold(pairs: Sequence[tuple[str, str, int]]) -> None:
    """A follower owns `pairs`: set (or keep up) their flags to FOLLOWED, for
    PROJECTIONS_FOLLOW_FLAG_TTL seconds (one round trip)."""
    ttl = settings.PROJECTIONS_FOLLOW_FLAG_TTL
    with get_redis_connection("default").pipeline(transaction=False) as pipe:
        for pair in pairs:
            pipe.set(pending_key(*pair), FOLLOWED, ex=ttl)
        pipe.execute()


def not_queued(pairs: Sequence[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Those of `pairs` no catch-up task is queued for: one handed back for a backlog or a
    failure is the task's until it has run."""
    if not pairs:
        return []
    flags = get_redis_connection("default").mget([pending_key(*pair) for pair in pairs])
    return [
        pair
        for pair, flag in zip(pairs, flags, strict=True)
        if flag is None or flag == FOLLOWED.encode()
    ]


def reaction_pair(name: str) -> tuple[str, str, int]:
    """A reaction's (name, topic, partition) for the locks and flags."""
    return (name, STORE_LOG, STORE_PARTITION)


def started(name: str, topic: str, partition: int) -> None:
    """A task for this pair starts: wake-ups from now on enqueue another (unless followed)."""
    get_redis_connection("default").eval(_CLEAR_QUEUED, 1, pending_key(name, topic, partition))


def wake(name: str, topic: str, partition: int, *, force: bool = False) -> None:
    """Enqueue a catch-up unless one is already queued and not yet started. `force` enqueues
    regardless: the periodic safety net must work even if a queued message was lost."""
    wake_many([(name, topic, partition)], force=force)


# Each key's flag set unless it is there (SET NX): 1 where it was set. (One command: a pipeline
# of a SET per key cost the relay twice the client CPU per published batch.)
_FLAG_MANY = """
local set = {}
for i, key in ipairs(KEYS) do
  set[i] = redis.call('SET', key, '1', 'NX', 'EX', ARGV[1]) and 1 or 0
end
return set
"""


def wake_many(pairs: Sequence[tuple[str, str, int]], *, force: bool = False) -> None:
    """`wake` for each (projection, topic, partition), their flags set in one round trip."""
    if not pairs:
        return
    keys = [pending_key(*pair) for pair in pairs]
    flagged = get_redis_connection("default").eval(_FLAG_MANY, len(keys), *keys, QUEUED_FLAG_TTL)
    send_tasks(
        [
            TaskMessage("projections.react", [pair[0]])
            if pair[1] == STORE_LOG
            else TaskMessage("projections.catch_up", list(pair))
            for pair, queued in zip(pairs, flagged, strict=True)
            if queued or force
        ]
    )


def wake_later(pair: tuple[str, str, int], countdown: float) -> None:
    """A reaction's wake-up in `countdown` seconds, unless one is queued already."""
    if get_redis_connection("default").set(pending_key(*pair), 1, nx=True, ex=QUEUED_FLAG_TTL):
        wait = {"countdown": broker_countdown(countdown)}
        send_tasks([TaskMessage("projections.react", [pair[0]], wait)])


def run_side_effect_jobs(jobs: Sequence[tuple[int, str]]) -> None:
    """Enqueue a `side_effects.run` task per (job id, its side effect's queue), all sent
    together: their confirms awaited once."""
    send_tasks([TaskMessage("side_effects.run", [job], {"queue": queue}) for job, queue in jobs])
