"""A read model in Redis: its batch and its checkpoint's move in one Lua script."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import redis
from django.db import connection, transaction
from django_redis import get_redis_connection

from eventstore.events import EventEnvelope
from eventstore.postgres import read_only
from eventstore.projection import (
    RedisProjection,
    live_namespace,
)
from projections.targets.base import APPLYING, Target, _mark_resolved, write_dead_letters

redis_namespace = live_namespace

# KEYS: checkpoints, one per read model applying its part of a batch; ARGV: each checkpoint's
# expected and next offsets, then for each in turn the number of words that follow for it and
# its commands, each as its length and its words. If every checkpoint is at its expected offset,
# runs the commands and moves the checkpoints, as MULTI/EXEC did: a command that fails does not
# stop the others (Redis rolls nothing back, so stopping would leave half a batch applied under
# the old checkpoint, to be applied again). Returns 0 if a checkpoint was elsewhere (nothing
# done), else each read model's first error ('' for none).
_APPLY = """
for k = 1, #KEYS do
    if (redis.call('GET', KEYS[k]) or '0') ~= ARGV[2 * k - 1] then
        return 0
    end
end
local errors = {}
local i = 2 * #KEYS + 1
for k = 1, #KEYS do
    local last = i + tonumber(ARGV[i])
    local failed = ''
    i = i + 1
    while i <= last do
        local n = tonumber(ARGV[i])
        local reply = redis.pcall(unpack(ARGV, i + 1, i + n))
        if type(reply) == 'table' and reply.err and failed == '' then
            failed = reply.err
        end
        i = i + n + 1
    end
    redis.call('SET', KEYS[k], ARGV[2 * k])
    errors[k] = failed
end
return errors
"""


class RedisCommandError(redis.ResponseError):
    """A command of a read model's batch failed in Redis (the rest was applied, the checkpoint
    moved: Redis rolls nothing back)."""


@functools.cache
def _apply_script(client: redis.Redis) -> Any:
    return client.register_script(_APPLY)


class RedisTarget(Target):
    def __init__(self, projection: RedisProjection, checkpoint_name: str | None = None):
        self.projection = projection
        self.checkpoint_name = checkpoint_name or projection.name
        self.client: redis.Redis = get_redis_connection("default")

    def checkpoint_key(self, topic: str, partition: int) -> str:
        return f"{redis_namespace(self.checkpoint_name)}:__checkpoint__:{topic}:{partition}"

    def next_offset(self, topic: str, partition: int) -> int:
        value = self.client.get(self.checkpoint_key(topic, partition))
        return int(value) if value is not None else 0

    def apply(
        self,
        topic: str,
        partition: int,
        envelopes: Sequence[EventEnvelope],
        *,
        expected_offset: int,
        next_offset: int,
        dead_letters: Sequence[dict[str, Any]] = (),
    ) -> bool:
        if dead_letters:
            # Dead letters live in Postgres; written first and idempotently (unique event id),
            # so a crash before the script below only repeats an insert that does nothing.
            with transaction.atomic(), connection.cursor() as cur:
                write_dead_letters(cur, dead_letters)
        errors = apply_together(
            self.client, [(self, topic, partition, envelopes, expected_offset, next_offset)]
        )
        if errors is None:
            return False
        if errors[0]:
            raise RedisCommandError(errors[0])
        return True

    def apply_redrive(self, envelope: EventEnvelope, dead_letter_id: int) -> None:
        # A marker set in the same EXEC makes a repeated redrive (after a crash before the
        # Postgres update below) a no-op.
        marker = f"{redis_namespace(self.checkpoint_name)}:__redriven__:{envelope.event_id}"
        with self.client.pipeline() as pipe:
            pipe.watch(marker)  # type: ignore[no-untyped-call]
            if not pipe.exists(marker):
                pipe.multi()
                with read_only(APPLYING):
                    self.projection.apply(pipe, envelope)
                pipe.set(marker, 1)
                pipe.execute()
        with transaction.atomic(), connection.cursor() as cur:
            _mark_resolved(cur, dead_letter_id)


RedisPart = tuple[RedisTarget, str, int, Sequence[EventEnvelope], int, int]
# (target, topic, partition, envelopes, expected offset, next offset)


def apply_together(client: redis.Redis, parts: Sequence[RedisPart]) -> list[str] | None:
    """Several read models' batches, each with its checkpoint's move, in one script (one round
    trip, where each alone took one): nothing at all if any checkpoint is not where expected
    (None), else each part's first command error ('' for none). The handlers queue their
    commands on a pipeline that is never executed; the script runs them."""
    keys: list[str] = []
    offsets: list[Any] = []
    words: list[Any] = []
    for target, topic, partition, envelopes, expected, next_offset in parts:
        keys.append(target.checkpoint_key(topic, partition))
        offsets += [expected, next_offset]
        at = len(words)
        words.append(0)
        with client.pipeline(transaction=False) as pipe, read_only(APPLYING):
            target.projection.apply_many(pipe, envelopes)
            for command, _options in pipe.command_stack:
                words.append(len(command))
                words.extend(command)
        words[at] = len(words) - at - 1
    result = _apply_script(client)(keys=keys, args=[*offsets, *words])
    if not isinstance(result, list):
        return None
    return [e.decode() if isinstance(e, bytes) else str(e) for e in result]
