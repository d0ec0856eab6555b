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

# KEYS[1] the checkpoint; ARGV: expected offset, next offset, then each command as its length
# and its words. If the checkpoint is at the expected offset, runs the commands and moves it, as
# MULTI/EXEC did: a command that fails does not stop the others (Redis rolls nothing back, so
# stopping would leave half a batch applied under the old checkpoint, to be applied again), and
# its error is the script's.
_APPLY = """
local current = redis.call('GET', KEYS[1])
if (current or '0') ~= ARGV[1] then
    return 0
end
local failed = nil
local i = 3
while i <= #ARGV do
    local n = tonumber(ARGV[i])
    local reply = redis.pcall(unpack(ARGV, i + 1, i + n))
    if type(reply) == 'table' and reply.err and not failed then
        failed = reply.err
    end
    i = i + n + 1
end
redis.call('SET', KEYS[1], ARGV[2])
if failed then
    return redis.error_reply(failed)
end
return 1
"""


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
        # The handlers queue their commands on a pipeline that is never executed; one script
        # checks the checkpoint, runs them and moves it (one round trip, where WATCH, GET and
        # MULTI/EXEC took three).
        args: list[Any] = [expected_offset, next_offset]
        with self.client.pipeline(transaction=False) as pipe, read_only(APPLYING):
            self.projection.apply_many(pipe, envelopes)
            for command, _options in pipe.command_stack:
                args.append(len(command))
                args.extend(command)
        script = _apply_script(self.client)
        return bool(script(keys=[self.checkpoint_key(topic, partition)], args=args))

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
