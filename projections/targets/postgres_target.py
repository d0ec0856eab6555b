"""A read model in Postgres: its batch and its checkpoint's move in one transaction
(`proj_advance()`), in one round trip when the projection is pipelined."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import connection, transaction

from eventstore.events import EventEnvelope
from eventstore.pipelining import one_round_trip
from eventstore.postgres import read_only, server_cursor
from eventstore.projection import (
    PostgresProjection,
)
from projections.targets.base import APPLYING, Target, _mark_resolved, write_dead_letters

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
        """The projection's CREATE ... IF NOT EXISTS, one process at a time: two at once race
        in the catalog (a duplicate key, or "type ... already exists" for the table's row type)."""
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext('proj_setup:' || %s))",
                [self.checkpoint_name],
            )
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
            with one_round_trip(
                connection.connection, synchronous_commit=not self.asynchronous_commit
            ):
                yield
        else:
            with transaction.atomic():
                if self.asynchronous_commit:
                    with connection.cursor() as cur:
                        cur.execute("SET LOCAL synchronous_commit TO off")
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


PostgresPart = tuple[PostgresTarget, str, int, Sequence[EventEnvelope], int, int]
# (target, topic, partition, envelopes, expected offset, next offset)


# A follower's transaction moves several checkpoints of one read model (its parts of a poll,
# one per partition, locked in pair order: topic, then partition). Deleting a read model's
# checkpoints locks its rows in that order too, never in the table's: a DELETE that had one
# row of a group locked while waiting for another could deadlock with it.
_DELETE_CHECKPOINTS_SQL = """
DELETE FROM proj_checkpoint WHERE id IN (
    SELECT id FROM proj_checkpoint WHERE projection = %s ORDER BY topic, partition FOR UPDATE
)
"""


def delete_checkpoints(cur: Any, name: str) -> None:
    """Delete every Postgres checkpoint of `name` (a rebuild's or a reset's start), taking
    their rows in the order a follower's transaction takes them."""
    cur.execute(_DELETE_CHECKPOINTS_SQL, [name])


def can_apply_together(target: Target) -> bool:
    """Whether `target` can share a transaction with others (`apply_together`): a live
    pipelined read model."""
    return isinstance(target, PostgresTarget) and target._pipelined() and not target.schema


def apply_together(parts: Sequence[PostgresPart]) -> bool:
    """Several pipelined read models' batches, each with its checkpoint's move, in one
    transaction sent in one round trip (where each alone took one, and a commit): all or
    nothing. False if a checkpoint was not where expected; a handler's failure raises. Either
    way nothing was written, and the caller can apply the parts one by one to learn which."""
    if not all(can_apply_together(target) for target, *_ in parts):
        raise ValueError("only live pipelined read models apply together")
    if not connection.get_autocommit():
        raise RuntimeError("apply_together runs outside any transaction")
    try:
        connection.ensure_connection()
        with (
            one_round_trip(
                connection.connection,
                synchronous_commit=not all(target.asynchronous_commit for target, *_ in parts),
            ),
            connection.cursor() as cur,
        ):
            for target, topic, partition, envelopes, expected, next_offset in parts:
                cur.execute(
                    _ADVANCE, [target.checkpoint_name, topic, partition, expected, next_offset]
                )
                if envelopes:
                    with (
                        _handler_cursor(target.projection, cur) as handler_cur,
                        read_only(APPLYING),
                    ):
                        target.projection.apply_many(handler_cur, envelopes)
    except Exception as exc:
        if _sqlstate(exc) == CHECKPOINT_MOVED:
            return False
        raise
    return True
