"""Rebuilding a projection from the beginning of the Kafka log.

A rebuild empties the read model and its checkpoints, then catches every partition up. It records
that it is under way (proj_rebuild), so a rebuild stopped by Ctrl-C or a crash resumes from the
checkpoints instead of starting over. While it runs it owns each partition's lock in turn, so
workers do not race it; their wake-ups are not lost (they leave the dirty mark).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from eventstore.projection import Projection
from projections import locks, registry
from projections.runner import catch_up
from projections.status import partitions
from projections.targets import (
    PostgresTarget,
    RedisTarget,
    Target,
    redis_namespace,
    target_for,
)

Progress = Callable[[int, int], None]  # (events done in this step, lag left)


@dataclass(frozen=True)
class Plan:
    projection: str
    partitions: list[tuple[str, int, int, int]]  # topic, partition, checkpoint, log end
    resuming: bool
    clears: list[str]

    @property
    def events(self) -> int:
        if self.resuming:
            return sum(max(0, end - ckpt) for _, _, ckpt, end in self.partitions)
        return sum(end for _, _, _, end in self.partitions)


def plan(name: str) -> Plan:
    projection = registry.get(name)
    target = target_for(projection)
    from projections import log

    parts = [
        (topic, p, target.next_offset(topic, p), log.log_end(topic, p))
        for topic in registry.topics_of(projection)
        for p in partitions(topic)
    ]
    if isinstance(target, PostgresTarget):
        clears = [f"table {t}" for t in target.projection.tables]
    else:
        clears = [f"redis keys {redis_namespace(name)}:*"]
    return Plan(name, parts, resuming=_in_progress(name), clears=clears)


def rebuild(
    name: str,
    *,
    restart: bool = False,
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> int:
    """Rebuild (or resume rebuilding) one projection; returns the events applied."""
    projection = registry.get(name)
    if restart or not _in_progress(name):
        _start(projection)
    applied = 0
    for topic in registry.topics_of(projection):
        for partition in partitions(topic):
            applied += _rebuild_partition(projection, topic, partition, progress, batch_size)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM proj_rebuild WHERE projection = %s", [name])
    return applied


def _rebuild_partition(
    projection: Projection,
    topic: str,
    partition: int,
    progress: Progress | None,
    batch_size: int | None,
) -> int:
    while not locks.try_lock(projection.name, topic, partition):
        time.sleep(0.05)
    try:
        return catch_up_to_end(target_for(projection), topic, partition, progress, batch_size)
    finally:
        locks.unlock(projection.name, topic, partition)


def catch_up_to_end(
    target: Target, topic: str, partition: int, progress: Progress | None, batch_size: int | None
) -> int:
    """Apply the partition up to its current end in short steps, reporting progress."""
    from projections import log

    end = log.log_end(topic, partition)
    applied = 0
    while True:
        before = target.next_offset(topic, partition)
        result = catch_up(
            target.projection,
            target,
            topic,
            partition,
            registry=registry.event_registry(),
            batch_size=batch_size,
            max_seconds=0.5,
            end=end,
        )
        applied += result.applied
        if progress is not None:
            progress(result.next_offset - before, end - result.next_offset)
        if result.reached_end:
            return applied


def _in_progress(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM proj_rebuild WHERE projection = %s", [name])
        return cur.fetchone() is not None


def _start(projection: Projection) -> None:
    """Empty the read model and its checkpoints, and record that a rebuild is under way."""
    target = target_for(projection)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM proj_checkpoint WHERE projection = %s", [projection.name])
        cur.execute("DELETE FROM proj_dead_letter WHERE projection = %s", [projection.name])
        cur.execute(
            "INSERT INTO proj_rebuild (projection, started_at) VALUES (%s, now()) "
            "ON CONFLICT (projection) DO UPDATE SET started_at = now()",
            [projection.name],
        )
    if isinstance(target, PostgresTarget):
        target.setup()
        with connection.cursor() as cur:
            for table in target.projection.tables:
                cur.execute(f"TRUNCATE {table}")
    elif isinstance(target, RedisTarget):
        for key in target.client.scan_iter(
            match=f"{redis_namespace(projection.name)}:*", count=1000
        ):
            target.client.delete(key)
