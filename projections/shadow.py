"""Zero-downtime rebuilds: build a projection beside the live one, compare, swap atomically.

Postgres: the shadow tables live in the `proj_shadow` schema under the same names, and the
shadow build sets `search_path` so handlers write there unchanged. The swap, in one transaction,
moves the live tables to `proj_retired`, the shadow ones into place, and the shadow checkpoints
and dead letters over the live ones. Redis: the shadow keys live under `<namespace>__shadow`;
the swap deletes the live keys and renames the shadow ones in one MULTI/EXEC.

The shadow is built up to where the live model is, never past it, so that the live model is
never written to by the rebuild: before comparing, the rebuild takes every partition's lock
(live workers pause, their wake-ups wait as dirty marks), brings the shadow to the live model's
offsets and compares their dumps. (Only a resumed build that had already gone past the live
model makes the live one apply those events first, as its workers would.)
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django_redis import get_redis_connection

from eventstore.projection import PostgresProjection, Projection, RedisProjection
from projections import locks, registry
from projections.dump import differences, differing, dump
from projections.replay import Progress, catch_up_to_end
from projections.status import partitions
from projections.targets import (
    PostgresTarget,
    RedisTarget,
    Target,
    postgres_target,
    redis_namespace,
    target_for,
)

SHADOW_SCHEMA = "proj_shadow"
RETIRED_SCHEMA = "proj_retired"


@dataclass(frozen=True)
class ShadowReport:
    applied: int
    differences: int
    swapped: bool
    examples: tuple[str, ...] = ()  # a few of the differing rows, described


def shadow_name(name: str) -> str:
    return f"{name}__shadow"


def shadow_target(projection: Projection) -> Target:
    if isinstance(projection, PostgresProjection):
        return PostgresTarget(projection, shadow_name(projection.name), schema=SHADOW_SCHEMA)
    if isinstance(projection, RedisProjection):
        twin = type(projection)(redis_namespace(shadow_name(projection.name)))
        return RedisTarget(twin, shadow_name(projection.name))
    raise TypeError(f"{projection.name} cannot be rebuilt in a shadow")


def in_progress(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM proj_rebuild WHERE projection = %s", [shadow_name(name)])
        return cur.fetchone() is not None


def rebuild(
    name: str,
    *,
    restart: bool = False,
    swap: bool = True,
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> ShadowReport:
    projection = registry.get(name)
    target = shadow_target(projection)
    if restart or not in_progress(name):
        _start(projection)
    applied = 0
    topics = [(t, p) for t in registry.topics_of(projection) for p in partitions(t)]
    live = target_for(projection)
    for topic, partition in topics:  # the bulk, to where the live model is, while it goes on
        end = live.next_offset(topic, partition)
        applied += catch_up_to_end(target, topic, partition, progress, batch_size, end=end)
    held: list[tuple[str, int]] = []
    try:
        for topic, partition in topics:
            locks.acquire(name, topic, partition)
            held.append((topic, partition))
        for topic, partition in topics:  # the last few events, with the live model paused
            end = live.next_offset(topic, partition)
            applied += catch_up_to_end(target, topic, partition, progress, batch_size, end=end)
            ahead = target.next_offset(topic, partition)
            if ahead > end:  # a resumed build that had gone past it: the live model follows
                catch_up_to_end(live, topic, partition, None, batch_size, end=ahead)
        live_dump, shadow_dump = dump(projection), _dump_shadow(projection)
        diff = differences(live_dump, shadow_dump)
        examples = tuple(differing(live_dump, shadow_dump, sides=("live", "shadow")))
        if swap:
            _swap(projection)
        return ShadowReport(applied, diff, swap, examples)
    finally:
        for topic, partition in held:
            locks.unlock(name, topic, partition)


def _dump_shadow(projection: Projection) -> dict[str, object]:
    if isinstance(projection, PostgresProjection):
        return dump(projection, schema=SHADOW_SCHEMA)
    return dump(projection, namespace=redis_namespace(shadow_name(projection.name)))


def _start(projection: Projection) -> None:
    shadow = shadow_name(projection.name)
    with transaction.atomic(), connection.cursor() as cur:
        postgres_target.delete_checkpoints(cur, shadow)
        cur.execute("DELETE FROM proj_dead_letter WHERE projection = %s", [shadow])
        cur.execute(
            "INSERT INTO proj_rebuild (projection, started_at) VALUES (%s, now()) "
            "ON CONFLICT (projection) DO UPDATE SET started_at = now()",
            [shadow],
        )
        if isinstance(projection, PostgresProjection):
            PostgresTarget(projection).setup()  # the live tables exist to copy from
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{SHADOW_SCHEMA}"')
            for table in projection.tables:
                cur.execute(f'DROP TABLE IF EXISTS "{SHADOW_SCHEMA}"."{table}"')
                cur.execute(
                    f'CREATE TABLE "{SHADOW_SCHEMA}"."{table}" (LIKE "{table}" INCLUDING ALL)'
                )
    if isinstance(projection, RedisProjection):
        client = get_redis_connection("default")
        for key in client.scan_iter(match=f"{redis_namespace(shadow)}:*", count=1000):
            client.delete(key)


def _swap(projection: Projection) -> None:
    name, shadow = projection.name, shadow_name(projection.name)
    if isinstance(projection, RedisProjection):
        _swap_redis(name, shadow)
    with transaction.atomic(), connection.cursor() as cur:
        if isinstance(projection, PostgresProjection):
            cur.execute("SELECT current_schema()")
            live_schema = cur.fetchone()[0]
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{RETIRED_SCHEMA}"')
            for table in projection.tables:
                cur.execute(f'DROP TABLE IF EXISTS "{RETIRED_SCHEMA}"."{table}"')
                cur.execute(f'ALTER TABLE "{live_schema}"."{table}" SET SCHEMA "{RETIRED_SCHEMA}"')
                cur.execute(f'ALTER TABLE "{SHADOW_SCHEMA}"."{table}" SET SCHEMA "{live_schema}"')
            postgres_target.delete_checkpoints(cur, name)
            cur.execute(
                "UPDATE proj_checkpoint SET projection = %s WHERE projection = %s", [name, shadow]
            )
        cur.execute("DELETE FROM proj_dead_letter WHERE projection = %s", [name])
        cur.execute(
            "UPDATE proj_dead_letter SET projection = %s WHERE projection = %s", [name, shadow]
        )
        cur.execute("DELETE FROM proj_rebuild WHERE projection = %s", [shadow])


def _swap_redis(name: str, shadow: str) -> None:
    client = get_redis_connection("default")
    live_ns, shadow_ns = redis_namespace(name), redis_namespace(shadow)
    live_keys = list(client.scan_iter(match=f"{live_ns}:*", count=1000))
    shadow_keys = list(client.scan_iter(match=f"{shadow_ns}:*", count=1000))
    with client.pipeline(transaction=True) as pipe:  # MULTI/EXEC: readers see old or new
        for key in live_keys:
            pipe.delete(key)
        for key in shadow_keys:
            pipe.rename(key, live_ns + key.decode()[len(shadow_ns) :])
        pipe.execute()
