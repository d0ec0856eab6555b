"""One owner per (projection, topic, partition), and no lost wake-up.

The lock is a Postgres advisory lock on the worker's connection: if the worker dies (even by
kill -9) its connection closes and the lock goes with it. A wake-up that finds the lock taken
leaves a "dirty" mark in Redis, then tries the lock once more; the owner, after releasing, looks
for the mark and goes round again. Either the second try wins, or the owner sees the mark.

The follower (projections.follower) holds partitions for long stretches. Whoever needs one for a
bounded job (a rebuild, a redrive) calls `acquire`, which leaves a "wanted" mark the follower
looks for every PROJECTIONS_FOLLOW_REFRESH seconds: it lets the partition go and leaves it alone
while the mark is there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection


def _lock_key(projection: str, topic: str, partition: int) -> int:
    digest = hashlib.blake2b(f"proj:{projection}:{topic}:{partition}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _dirty_key(projection: str, topic: str, partition: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:proj:dirty:{projection}:{topic}:{partition}"


def _wanted_key(projection: str, topic: str, partition: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:proj:wanted:{projection}:{topic}:{partition}"


WANTED_TTL = 5  # seconds: a waiter that died stops holding the follower off after this long


class Busy(Exception):
    """The lock was not free within the time asked for."""


def acquire(projection: str, topic: str, partition: int, timeout: float | None = None) -> None:
    """Take the lock, waiting for it (at most `timeout` seconds, else Busy); the follower is
    asked to let it go. Release with `unlock`."""
    redis = get_redis_connection("default")
    wanted = _wanted_key(projection, topic, partition)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while not try_lock(projection, topic, partition):
            redis.set(wanted, 1, ex=WANTED_TTL)
            if deadline is not None and time.monotonic() > deadline:
                raise Busy(f"{projection} {topic}[{partition}] is busy (a worker holds it)")
            time.sleep(0.05)
    finally:
        redis.delete(wanted)


def wanted(pairs: Iterable[tuple[str, str, int]]) -> set[tuple[str, str, int]]:
    """Those of `pairs` someone is waiting for in `acquire`."""
    ordered = list(pairs)
    if not ordered:
        return set()
    marks = get_redis_connection("default").mget([_wanted_key(*pair) for pair in ordered])
    return {pair for pair, mark in zip(ordered, marks, strict=True) if mark is not None}


def try_lock(projection: str, topic: str, partition: int) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(projection, topic, partition)])
        return bool(cur.fetchone()[0])


def try_lock_many(pairs: Iterable[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Those of `pairs` whose lock this connection now holds (one round trip)."""
    ordered = list(pairs)
    if not ordered:
        return []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_try_advisory_lock(k) FROM unnest(%s::bigint[]) WITH ORDINALITY t(k, i) "
            "ORDER BY i",
            [[_lock_key(*pair) for pair in ordered]],
        )
        got = [row[0] for row in cur.fetchall()]
    return [pair for pair, ok in zip(ordered, got, strict=True) if ok]


def unlock(projection: str, topic: str, partition: int) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(projection, topic, partition)])


def unlock_many(pairs: Iterable[tuple[str, str, int]]) -> None:
    ordered = list(pairs)
    if ordered:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) k",
                [[_lock_key(*pair) for pair in ordered]],
            )


def take_dirty_many(pairs: Iterable[tuple[str, str, int]]) -> set[tuple[str, str, int]]:
    """Those of `pairs` whose dirty mark was set (clearing them all)."""
    ordered = list(pairs)
    if not ordered:
        return set()
    with get_redis_connection("default").pipeline(transaction=False) as pipe:
        for pair in ordered:
            pipe.getdel(_dirty_key(*pair))
        marks = pipe.execute()
    return {pair for pair, mark in zip(ordered, marks, strict=True) if mark}


def take_dirty(projection: str, topic: str, partition: int) -> bool:
    """Whether a wake-up found the lock taken since the mark was last taken (and clear it)."""
    return bool(get_redis_connection("default").getdel(_dirty_key(projection, topic, partition)))


def run_owned(projection: str, topic: str, partition: int, work: Callable[[], None]) -> bool:
    """Run `work` as the owner, as many times as wake-ups arrive; False if another owner runs."""
    redis = get_redis_connection("default")
    dirty = _dirty_key(projection, topic, partition)
    ran = False
    while True:
        if not try_lock(projection, topic, partition):
            redis.set(dirty, 1)
            if not try_lock(projection, topic, partition):
                return ran  # the owner will see the mark after it releases
        try:
            redis.delete(dirty)
            work()
            ran = True
        finally:
            unlock(projection, topic, partition)
        if not redis.getdel(dirty):
            return ran
