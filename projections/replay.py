"""Rebuilding a projection from the beginning of the Kafka log.

A rebuild empties the read model and its checkpoints, then catches every partition up. It records
that it is under way (proj_rebuild), so a rebuild stopped by Ctrl-C or a crash resumes from the
checkpoints instead of starting over. While it runs it owns each partition's lock in turn, so
workers do not race it; their wake-ups are not lost (they leave the dirty mark).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, connections

from eventstore.projection import Projection
from projections import locks, registry
from projections.runner import INFRASTRUCTURE_ERRORS, catch_up
from projections.status import partitions
from projections.targets import (
    PostgresTarget,
    RedisTarget,
    Target,
    postgres_target,
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


def default_jobs() -> int:
    """Processes a rebuild uses by default: one per core (decoding is CPU-bound Python)."""
    return max(1, os.cpu_count() or 1)


def rebuild(
    name: str,
    *,
    restart: bool = False,
    progress: Progress | None = None,
    batch_size: int | None = None,
    jobs: int = 1,
) -> int:
    """Rebuild (or resume rebuilding) one projection; returns the events applied. With jobs > 1
    the partitions are rebuilt by that many processes at once."""
    projection = registry.get(name)
    if restart or not _in_progress(name):
        _start(projection)
    parts = [(topic, p) for topic in registry.topics_of(projection) for p in partitions(topic)]
    if jobs > 1 and len(parts) > 1:
        applied = _rebuild_in_processes(projection, parts, progress, batch_size, jobs)
    else:
        applied = sum(
            _rebuild_partition(projection, topic, p, progress, batch_size) for topic, p in parts
        )
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
    locks.acquire(projection.name, topic, partition)
    try:
        for attempt in range(1, PARTITION_ATTEMPTS + 1):
            try:
                return catch_up_to_end(
                    target_for(projection), topic, partition, progress, batch_size
                )
            except INFRASTRUCTURE_ERRORS:
                # E.g. a deadlock with another partition's process over a shared row: the
                # failed batch was rolled back; go on from the checkpoint.
                if attempt == PARTITION_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        return 0  # unreachable
    finally:
        locks.unlock(projection.name, topic, partition)


PARTITION_ATTEMPTS = 5
_inherited: list[Any] = []


def _in_child() -> None:
    """A forked rebuild process: its own Kafka consumer. The parent's is kept referenced, never
    used or destroyed here (librdkafka's threads did not survive the fork)."""
    from projections import log

    _inherited.append(log._local)
    log._local = threading.local()


def _rebuild_one(name: str, topic: str, partition: int, batch_size: int | None) -> int:
    return _rebuild_partition(registry.get(name), topic, partition, None, batch_size)


def _rebuild_in_processes(
    projection: Projection,
    parts: list[tuple[str, int]],
    progress: Progress | None,
    batch_size: int | None,
    jobs: int,
) -> int:
    """Each partition in a forked process (fork keeps this process's settings and registry);
    progress comes from the checkpoints, which the processes move as they go."""
    from projections import log

    target = target_for(projection)
    ends = {part: log.log_end(*part) for part in parts}

    def done() -> int:
        return sum(min(target.next_offset(*part), ends[part]) for part in parts)

    reported = done()
    connections.close_all()  # no connection shared with the children
    log.close_consumers()  # no librdkafka thread running (and holding its locks) at the fork
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_in_child) as pool:
        futures = [pool.submit(_rebuild_one, projection.name, t, p, batch_size) for t, p in parts]
        pending = set(futures)
        while pending:
            _finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            if progress is not None:
                now = done()
                progress(now - reported, sum(ends.values()) - now)
                reported = now
            for future in _finished:
                future.result()  # a failed partition stops the rebuild (it resumes later)
        return sum(f.result() for f in futures)


def catch_up_to_end(
    target: Target,
    topic: str,
    partition: int,
    progress: Progress | None,
    batch_size: int | None,
    *,
    end: int | None = None,
) -> int:
    """Apply the partition up to `end` (default: its current end) in short steps of
    `batch_size` events a transaction (default: PROJECTIONS_REBUILD_BATCH_SIZE), reporting
    progress."""
    from projections import log

    batch_size = batch_size or settings.PROJECTIONS_REBUILD_BATCH_SIZE
    if end is None:
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
            replay=True,  # spans link to the events' traces, not join them
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
        postgres_target.delete_checkpoints(cur, projection.name)
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
