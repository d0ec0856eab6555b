"""Where a projection writes, with its checkpoint in the same atomic unit.

`apply(..., expected_offset, next_offset)` applies envelopes and moves the checkpoint from
expected to next only if the checkpoint is still at `expected_offset`; otherwise it changes
nothing and returns False. So a redelivered task, a second worker or an overlapping replay can
never apply an event twice, whatever locks did or did not do.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django_redis import get_redis_connection

from eventstore.projection import PostgresProjection, Projection, RedisProjection, SideEffect
from projections.targets.base import APPLYING, Target, write_dead_letters
from projections.targets.postgres_target import PostgresTarget
from projections.targets.redis_target import RedisTarget, redis_namespace
from projections.targets.side_effect_target import SideEffectTarget

__all__ = [
    "APPLYING",
    "PostgresTarget",
    "RedisTarget",
    "SideEffectTarget",
    "Target",
    "next_offsets",
    "redis_namespace",
    "target_for",
    "write_dead_letters",
]


def next_offsets(wanted: Sequence[tuple[Target, str, int]]) -> list[int]:
    """Each (target, topic, partition)'s next offset, as `Target.next_offset` reads it, in one
    round trip per kind of target."""
    result = [0] * len(wanted)
    in_postgres = [
        (i, t, topic, p) for i, (t, topic, p) in enumerate(wanted) if isinstance(t, PostgresTarget)
    ]
    in_redis = [
        (i, t, topic, p) for i, (t, topic, p) in enumerate(wanted) if isinstance(t, RedisTarget)
    ]
    for i, (target, topic, partition) in enumerate(wanted):
        if not isinstance(target, (PostgresTarget, RedisTarget)):
            result[i] = target.next_offset(topic, partition)
    if in_postgres:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT w.i, c.next_offset FROM unnest(%s::int[], %s::text[], %s::text[], "
                "%s::int[]) w(i, projection, topic, partition) JOIN proj_checkpoint c "
                "USING (projection, topic, partition)",
                [
                    [i for i, *_ in in_postgres],
                    [t.checkpoint_name for _, t, _, _ in in_postgres],
                    [topic for *_, topic, _ in in_postgres],
                    [p for *_, p in in_postgres],
                ],
            )
            for i, offset in cur.fetchall():
                result[i] = int(offset)
    if in_redis:
        client = get_redis_connection("default")
        keys = [t.checkpoint_key(topic, p) for _, t, topic, p in in_redis]
        for (i, *_), value in zip(in_redis, client.mget(keys), strict=True):
            result[i] = int(value) if value is not None else 0
    return result


def target_for(projection: Projection, checkpoint_name: str | None = None) -> Target:
    if isinstance(projection, SideEffect):
        return SideEffectTarget(projection)
    if isinstance(projection, PostgresProjection):
        return PostgresTarget(projection, checkpoint_name)
    if isinstance(projection, RedisProjection):
        return RedisTarget(projection, checkpoint_name)
    raise TypeError(f"{projection!r} is neither a Postgres nor a Redis projection")
