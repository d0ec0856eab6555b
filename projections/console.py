"""The operator's console, as data: where every read model, side effect and reaction stands, and
how it has moved over the last minutes.

- **Now**: lag, dead letters and the last error, per consumer and per partition (who owns each:
  the follower, a queued catch-up task, or nobody), from `status` and `reactions.status`.
- **Lately**: every CONSOLE_SAMPLE_SECONDS (the beat's `projections.sample_console`, or a console
  page finding the newest sample older than that) one sample per consumer, (time, lag,
  position), kept in a capped Redis list for CONSOLE_HISTORY_SECONDS. The rate (events read per
  second), the ETA to caught up and the lag chart come from those samples.
- **State**: `rebuilding` (a rebuild or a shadow rebuild is under way), `parked` (an event is
  parked, and its stream's later events blocked behind it), `following` (caught up: no lag, or
  the follower owns every partition and the lag is small), `catching up` (behind, and moving),
  `stalled` (behind, and nothing moved over the last samples: no worker running?).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from projections import reactions, registry, status, wakeups

READ_MODEL, SIDE_EFFECT, REACTION = "read model", "side effect", "reaction"
FOLLOWING, CATCHING_UP, STALLED, PARKED, REBUILDING = (
    "following",
    "catching up",
    "stalled",
    "parked",
    "rebuilding",
)
SMALL_LAG = 100  # the follower applies a backlog this size within a batch or two
RATE_WINDOW = 60.0  # seconds of samples the rate and the ETA are measured over
STALL_AFTER = 10.0  # seconds without any move, with a lag, before a consumer is stalled


@dataclass(frozen=True)
class Sample:
    at: float  # unix time
    lag: int
    position: int  # sum of checkpoints (read models), log position (reactions)


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int
    checkpoint: int
    log_end: int
    lag: int
    dead_letters: int
    owner: str  # "follower", "task queued", "—"


@dataclass
class Consumer:
    name: str
    kind: str
    lag: int
    position: int
    dead_letters: int
    last_error: str
    followed: bool = False
    rebuilding: bool = False
    partitions: list[Partition] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)  # oldest first
    rate: float | None = None  # events read per second over the last RATE_WINDOW
    eta_seconds: float | None = None  # to caught up, at the lag's recent fall
    state: str = FOLLOWING

    @property
    def caught_up(self) -> bool:
        return self.lag == 0


def _samples_key(name: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:console:samples:{name}"


def _rebuilding() -> set[str]:
    from projections.shadow import shadow_name

    with connection.cursor() as cur:
        cur.execute("SELECT projection FROM proj_rebuild")
        rows = {row[0] for row in cur.fetchall()}
    suffix = shadow_name("")
    return {name.removesuffix(suffix) for name in rows}


def current() -> list[Consumer]:
    """Every consumer as it stands now (no history)."""
    side_effects = set(registry.side_effects())
    rows = status.status()
    owners = get_redis_connection("default").mget(
        [wakeups.pending_key(r.projection, r.topic, r.partition) for r in rows]
    )
    building = _rebuilding()
    by_name: dict[str, Consumer] = {}
    for row, flag in zip(rows, owners, strict=True):
        found = by_name.get(row.projection)
        if found is None:
            kind = SIDE_EFFECT if row.projection in side_effects else READ_MODEL
            found = by_name[row.projection] = Consumer(
                row.projection, kind, 0, 0, 0, "", rebuilding=row.projection in building
            )
        owner = "—"
        if flag == wakeups.FOLLOWED.encode():
            owner = "follower"
        elif flag is not None:
            owner = "task queued"
        found.partitions.append(
            Partition(
                row.topic,
                row.partition,
                row.checkpoint,
                row.log_end,
                row.lag,
                row.dead_letters,
                owner,
            )
        )
        found.lag += row.lag
        found.position += row.checkpoint
        found.dead_letters += row.dead_letters
    for found in by_name.values():
        found.followed = all(p.owner == "follower" for p in found.partitions)
    for name, error in _last_errors().items():
        if name in by_name:
            by_name[name].last_error = error
    consumers = sorted(by_name.values(), key=lambda c: (c.kind, c.name))
    for r in reactions.status(list(registry.reactions().values())):
        consumers.append(
            Consumer(r.reaction, REACTION, r.lag, r.next_position, r.dead_letters, r.last_error)
        )
    return consumers


def _last_errors() -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT ON (projection) projection, error FROM proj_dead_letter "
            "WHERE status IN ('parked', 'blocked') AND error <> '' "
            "ORDER BY projection, created_at DESC"
        )
        return {row[0]: row[1] for row in cur.fetchall()}


def record(consumers: list[Consumer] | None = None) -> list[Consumer]:
    """Take one sample of every consumer now; returns them as they stand."""
    consumers = current() if consumers is None else consumers
    now = time.time()
    keep = max(2, int(settings.CONSOLE_HISTORY_SECONDS / settings.CONSOLE_SAMPLE_SECONDS) + 1)
    with get_redis_connection("default").pipeline(transaction=False) as pipe:
        for consumer in consumers:
            key = _samples_key(consumer.name)
            pipe.lpush(key, json.dumps([round(now, 3), consumer.lag, consumer.position]))
            pipe.ltrim(key, 0, keep - 1)
            pipe.expire(key, int(settings.CONSOLE_HISTORY_SECONDS) + 60)
        pipe.execute()
    return consumers


def record_if_due() -> bool:
    """One sample, unless another was taken within CONSOLE_SAMPLE_SECONDS (by anyone)."""
    due = get_redis_connection("default").set(
        f"{settings.REDIS_KEY_PREFIX}:console:sampled",
        1,
        nx=True,
        px=max(1, int(settings.CONSOLE_SAMPLE_SECONDS * 1000)),
    )
    if due:
        record()
    return bool(due)


def history(names: list[str]) -> dict[str, list[Sample]]:
    """The samples of each consumer within CONSOLE_HISTORY_SECONDS, oldest first."""
    since = time.time() - settings.CONSOLE_HISTORY_SECONDS
    with get_redis_connection("default").pipeline(transaction=False) as pipe:
        for name in names:
            pipe.lrange(_samples_key(name), 0, -1)
        raw = pipe.execute()
    found: dict[str, list[Sample]] = {}
    for name, items in zip(names, raw, strict=True):
        samples = [Sample(*json.loads(item)) for item in items]
        found[name] = sorted((s for s in samples if s.at >= since), key=lambda s: s.at)
    return found


def overview(name: str | None = None) -> list[Consumer]:
    """Every consumer (or the one named) now, with its history, rate, ETA and state."""
    record_if_due()
    consumers = current()
    if name is not None:
        consumers = [c for c in consumers if c.name == name]
    samples = history([c.name for c in consumers])
    for consumer in consumers:
        consumer.samples = samples.get(consumer.name, [])
        _measure(consumer)
    return consumers


def _measure(consumer: Consumer) -> None:
    now = Sample(time.time(), consumer.lag, consumer.position)
    recent = [s for s in consumer.samples if s.at >= now.at - RATE_WINDOW]
    first = recent[0] if recent else None
    if first is not None and now.at - first.at >= 1.0:
        span = now.at - first.at
        consumer.rate = max(0.0, (now.position - first.position) / span)
        if consumer.kind == REACTION:
            reaction = registry.reaction(consumer.name)
            consumer.rate = reactions.events_between(reaction, first.position, now.position) / span
        falling = (first.lag - now.lag) / span
        if now.lag > 0 and falling > 0:
            consumer.eta_seconds = now.lag / falling
    # Stalled: not one event applied since the newest sample at least STALL_AFTER old.
    old_enough = [s for s in consumer.samples if s.at <= now.at - STALL_AFTER]
    since = consumer.samples[consumer.samples.index(old_enough[-1]) :] if old_enough else []
    stalled = bool(since) and all(s.position == now.position for s in since)
    if consumer.rebuilding:
        consumer.state = REBUILDING
    elif consumer.dead_letters:
        consumer.state = PARKED
    elif consumer.lag == 0 or (consumer.followed and consumer.lag <= SMALL_LAG):
        consumer.state = FOLLOWING
    elif stalled:
        consumer.state = STALLED
    else:
        consumer.state = CATCHING_UP
