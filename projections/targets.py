"""Where a projection writes, with its checkpoint in the same atomic unit.

`apply(..., expected_offset, next_offset)` applies envelopes and moves the checkpoint from
expected to next only if the checkpoint is still at `expected_offset`; otherwise it changes
nothing and returns False. So a redelivered task, a second worker or an overlapping replay can
never apply an event twice, whatever locks did or did not do.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from django.db import connection, transaction
from django_redis import get_redis_connection

from eventstore.events import EventEnvelope
from eventstore.postgres import read_only, server_cursor
from eventstore.projection import (
    PostgresProjection,
    Projection,
    RedisProjection,
    SideEffect,
    live_namespace,
)

# Read models never append (code that decides is a reaction): the store refuses any append
# made while one of their handlers runs, live or in a rebuild.
APPLYING = "the application of a read model"


class Target:
    projection: Projection
    checkpoint_name: str

    def next_offset(self, topic: str, partition: int) -> int:
        raise NotImplementedError

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
        raise NotImplementedError

    def apply_redrive(self, envelope: EventEnvelope, dead_letter_id: int) -> None:
        """Apply one dead-lettered event outside the offset order (the checkpoint is already
        past it) and mark it resolved, exactly once."""
        raise NotImplementedError


_INSERT_DEAD_LETTER = """
INSERT INTO proj_dead_letter (projection, topic, partition, "offset", stream_id, stream_version,
    event_id, event_type, message, status, error, traceback, attempts, created_at)
VALUES (%(projection)s, %(topic)s, %(partition)s, %(offset)s, %(stream_id)s, %(stream_version)s,
    %(event_id)s, %(event_type)s, %(message)s, %(status)s, %(error)s, %(traceback)s,
    %(attempts)s, now())
ON CONFLICT (projection, event_id) DO UPDATE SET topic = EXCLUDED.topic,
    partition = EXCLUDED.partition, "offset" = EXCLUDED."offset", message = EXCLUDED.message,
    status = EXCLUDED.status, error = EXCLUDED.error, traceback = EXCLUDED.traceback,
    attempts = EXCLUDED.attempts, resolved_at = NULL
"""
# (An update, not "do nothing": an event resolved or skipped once and applied again (a rebuild,
# a reaction re-run) that fails again must be parked again, or it would be passed silently.)


def _mark_resolved(cur: Any, dead_letter_id: int) -> None:
    cur.execute(
        "UPDATE proj_dead_letter SET status = 'resolved', resolved_at = now() WHERE id = %s",
        [dead_letter_id],
    )


def write_dead_letters(cur: Any, rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        cur.execute(_INSERT_DEAD_LETTER, row)


# proj_advance (migration 0004) moves the checkpoint from the expected offset to the next one,
# taking its row lock (a concurrent runner waits, then finds it moved), or raises this SQLSTATE.
_ADVANCE = "SELECT proj_advance(%s, %s, %s, %s, %s)"
CHECKPOINT_MOVED = "PJ001"


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error, raised as it is (from a pipeline's sync) or wrapped in
    Django's (from a cursor's execute)."""
    for error in (exc, exc.__cause__):
        state = getattr(error, "sqlstate", None)
        if state:
            return str(state)
    return None


def _handler_cursor(
    projection: PostgresProjection, cur: Any
) -> contextlib.AbstractContextManager[Any]:
    """The cursor handlers write with, on the same connection and in the same transaction as
    the checkpoint: Django's (client-side binding: values are quoted into the SQL text), or
    for projections that ask for it one binding parameters on the server, whose statements are
    prepared (binding made an executemany of upserts 2.3x faster; preparing then cut the wait
    for the server's results of a batch 6x)."""
    if projection.server_binding:
        return server_cursor()
    return contextlib.nullcontext(cur)


class PostgresTarget(Target):
    projection: PostgresProjection

    def __init__(
        self,
        projection: PostgresProjection,
        checkpoint_name: str | None = None,
        *,
        schema: str | None = None,
    ):
        self.projection = projection
        self.checkpoint_name = checkpoint_name or projection.name
        # A shadow rebuild writes the same unqualified table names into another schema.
        self.schema = schema

    # A read model's transaction commits without waiting for its WAL to reach the disk
    # (synchronous_commit off: about a millisecond less per batch here, more while the disk is
    # busy). A crash can then lose the last batches applied, never part of one: the checkpoint
    # is in the same transaction, so they are applied again. Read models are rebuilt from the
    # log anyway; side-effect jobs (SideEffectTarget) keep waiting.
    asynchronous_commit = True

    def _pipelined(self) -> bool:
        return isinstance(self.projection, PostgresProjection) and self.projection.pipelined

    def _pipeline(self) -> contextlib.AbstractContextManager[Any]:
        """Pipeline mode for a pipelined projection's writes, unless the connection is in it
        already (leaving a nested pipeline block would wait for the server's answers)."""
        conn = connection.connection
        if self._pipelined() and not conn.pgconn.pipeline_status:
            return conn.pipeline()  # type: ignore[no-any-return]
        return contextlib.nullcontext()

    def _scope(self, cur: Any) -> None:
        if self.schema:
            cur.execute(f'SET LOCAL search_path TO "{self.schema}", public')

    def setup(self) -> None:
        with transaction.atomic(), connection.cursor() as cur:
            self._scope(cur)
            self.projection.setup(cur)

    def next_offset(self, topic: str, partition: int) -> int:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT next_offset FROM proj_checkpoint "
                "WHERE projection = %s AND topic = %s AND partition = %s",
                [self.checkpoint_name, topic, partition],
            )
            row = cur.fetchone()
        return int(row[0]) if row else 0

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
        try:
            with self._transaction(), connection.cursor() as cur:
                if self.asynchronous_commit:
                    cur.execute("SET LOCAL synchronous_commit TO off")
                cur.execute(
                    _ADVANCE,
                    [self.checkpoint_name, topic, partition, expected_offset, next_offset],
                )
                self._scope(cur)
                if envelopes:
                    with (
                        self._pipeline(),
                        _handler_cursor(self.projection, cur) as handler_cur,
                        read_only(APPLYING),
                    ):
                        self.projection.apply_many(handler_cur, envelopes)
                write_dead_letters(cur, dead_letters)
        except Exception as exc:
            if _sqlstate(exc) == CHECKPOINT_MOVED:  # raised by the move: nothing was written
                return False
            raise
        return True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """The batch's transaction. For handlers that never read a result, outside any
        transaction, in pipeline mode: BEGIN, the checkpoint's move, the writes, the dead
        letters and COMMIT go to the server together, answered in one round trip (four
        otherwise), and the move raising aborts the rest."""
        if self._pipelined() and connection.get_autocommit():
            connection.ensure_connection()
            conn = connection.connection
            with conn.pipeline(), conn.transaction():
                yield
        else:
            with transaction.atomic():
                yield

    def apply_redrive(self, envelope: EventEnvelope, dead_letter_id: int) -> None:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "SELECT status FROM proj_dead_letter WHERE id = %s FOR UPDATE", [dead_letter_id]
            )
            row = cur.fetchone()
            if row is None or row[0] not in ("parked", "blocked"):
                return
            self._scope(cur)
            with _handler_cursor(self.projection, cur) as handler_cur, read_only(APPLYING):
                self.projection.apply(handler_cur, envelope)
            _mark_resolved(cur, dead_letter_id)


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
        from projections.side_effects import SideEffectTarget

        return SideEffectTarget(projection)
    if isinstance(projection, PostgresProjection):
        return PostgresTarget(projection, checkpoint_name)
    if isinstance(projection, RedisProjection):
        return RedisTarget(projection, checkpoint_name)
    raise TypeError(f"{projection!r} is neither a Postgres nor a Redis projection")
