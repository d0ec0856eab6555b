"""One owner per (projection, topic, partition), and no lost wake-up.

The lock is a Postgres advisory lock on the worker's connection: if the worker dies (even by
kill -9) its connection closes and the lock goes with it. A wake-up that finds the lock taken
leaves a "dirty" mark in Redis, then tries the lock once more; the owner, after releasing, looks
for the mark and goes round again. Either the second try wins, or the owner sees the mark.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection


def _lock_key(projection: str, topic: str, partition: int) -> int:
    digest = hashlib.blake2b(f"proj:{projection}:{topic}:{partition}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _dirty_key(projection: str, topic: str, partition: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:proj:dirty:{projection}:{topic}:{partition}"


def try_lock(projection: str, topic: str, partition: int) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(projection, topic, partition)])
        return bool(cur.fetchone()[0])


def unlock(projection: str, topic: str, partition: int) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(projection, topic, partition)])


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
