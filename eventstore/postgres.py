"""The event store on Postgres, through Django's connection so that inline projections written with
the ORM share the append transaction.

An append is one call of the `es_append()` SQL function (migration 0003, as 0007 left it), so it
costs one round trip: it bumps the stream row (the optimistic concurrency check, and a row lock
that serialises writers of one stream), claims/releases unique values, upserts the snapshot,
inserts the events and their outbox rows, and NOTIFYs the relay (delivered on commit). Unique
(stream_id, stream_version) backs the check up. With inline projections the call and the
projections share one transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import psycopg
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from eventstore import metrics
from eventstore.aggregate import Snapshotted
from eventstore.errors import (
    ConcurrencyError,
    IdempotencyConflict,
    ReadOnlyStore,
    UniquenessError,
)
from eventstore.events import EventEnvelope, EventRegistry, Metadata, new_envelope
from eventstore.serialization import decode_payload, payload_to_dict
from eventstore.store import AppendResult, Claim, InlineProjection, Release, wants

R = TypeVar("R")
NOTIFY_CHANNEL = "es_outbox"  # es_append() notifies it
_encoder = msgspec.json.Encoder(decimal_format="string")

_EVENT_COLUMNS = (
    "event_id, stream_id, stream_type, stream_version, event_type, schema_version, "
    "occurred_at, actor, correlation_id, causation_id, trace_context, payload"
)
_APPEND_SQL = "SELECT es_append(%s, %s, %s, %s::jsonb, %s, %s::jsonb, %s::jsonb, %s::jsonb)"
_SELECT = f"SELECT position, {_EVENT_COLUMNS.replace('payload', 'payload::text')} FROM es_event"


# A stream's snapshot and the events after it, in one round trip (a row per event of the tail,
# the snapshot's columns on each; one row of NULL events when the tail is empty).
_LOAD_SQL = (
    "SELECT s.stream_type, s.version, s.schema_version, s.state::text, e.* "
    "FROM (SELECT %s::text AS id) k "
    "LEFT JOIN es_snapshot s ON s.stream_id = k.id "
    f"LEFT JOIN LATERAL ({_SELECT} WHERE stream_id = k.id "
    "AND stream_version > coalesce(s.version, 0)) e ON true "
    "ORDER BY e.stream_version"
)

# The relay's record: below its frontier, every id is published or rolled back except in gaps.
_SETTLED_SQL = (
    "SELECT least((SELECT min(g) FROM unnest(gap_lo) g), frontier + 1) "  # least skips NULL
    "FROM es_relay_state WHERE id = 1"
)
_LOG_ENDS_SQL = (
    f"SELECT coalesce(({_SETTLED_SQL}), 0), coalesce((SELECT max(id) FROM es_outbox), -1) + 1"
)
_LOG_SQL = (
    f"SELECT o.id, e.position, {', '.join('e.' + c for c in _EVENT_COLUMNS.split(', '))}::text "
    "FROM es_outbox o JOIN es_event e ON e.position = o.event_position "
    "WHERE o.id >= %s AND o.id < %s AND o.topic = ANY(%s) AND e.event_type = ANY(%s) "
    "ORDER BY o.id LIMIT %s"
)
_read_only: ContextVar[str | None] = ContextVar("eventstore_read_only", default=None)


@contextlib.contextmanager
def read_only(why: str) -> Iterator[None]:
    """Appends raise ReadOnlyStore inside this block (a read model's handlers run in it)."""
    token = _read_only.set(why)
    try:
        yield
    finally:
        _read_only.reset(token)


class PostgresEventStore:
    def __init__(
        self,
        registry: EventRegistry,
        *,
        topics: Mapping[str, str],
        inline_projections: Sequence[InlineProjection] = (),
        using: str = "default",
    ) -> None:
        self.registry = registry
        self.topics = topics
        self.inline_projections = list(inline_projections)
        self._inline: dict[str, list[InlineProjection]] = {}  # per stream type
        self.using = using

    def topic_for(self, stream_type: str) -> str:
        """`products.Product` -> the `products` module's topic."""
        module = stream_type.partition(".")[0]
        try:
            return self.topics[module]
        except KeyError:
            raise ValueError(
                f"stream type {stream_type!r} belongs to no module of {sorted(self.topics)}"
            ) from None

    # ------------------------------------------------------------------ writing

    def append(
        self,
        stream_id: str,
        stream_type: str,
        events: Sequence[Any],
        *,
        expected_version: int,
        metadata: Metadata | None = None,
        reservations: Sequence[Claim | Release] = (),
        snapshot: Snapshotted | None = None,
    ) -> AppendResult:
        if not events:
            raise ValueError("append needs at least one event")
        if (why := _read_only.get()) is not None:
            raise ReadOnlyStore(why)
        metadata = metadata or Metadata()
        envelopes = [
            new_envelope(
                e, stream_id=stream_id, stream_type=stream_type, stream_version=v, metadata=metadata
            )
            for v, e in enumerate(events, start=expected_version + 1)
        ]
        params = [
            stream_id,
            stream_type,
            expected_version,
            _encoder.encode([_row(e) for e in envelopes]).decode(),
            self.topic_for(stream_type),
            _encoder.encode(
                [[r.scope, r.value] for r in reservations if isinstance(r, Claim)]
            ).decode(),
            _encoder.encode(
                [[r.scope, r.value] for r in reservations if isinstance(r, Release)]
            ).decode(),
            _encoder.encode(snapshot).decode() if snapshot is not None else None,
        ]
        inline = self._inline.get(stream_type)
        if inline is None:
            inline = self._inline[stream_type] = [
                p for p in self.inline_projections if wants(p, stream_type)
            ]
        started = time.perf_counter()
        try:
            if inline or connections[self.using].in_atomic_block:
                # Inline projections must commit with the events; inside a caller's transaction
                # a savepoint keeps a refused append from aborting the caller's work.
                with transaction.atomic(using=self.using):
                    positions = self._call_append(params)
                    stored = [
                        replace(e, position=p) for e, p in zip(envelopes, positions, strict=True)
                    ]
                    for projection in inline:
                        projection(stored)
            else:
                # One statement is one transaction: the append costs one round trip.
                positions = self._call_append(params)
        except DatabaseError as exc:
            raise _translate(exc, stream_id, expected_version) from exc
        metrics.APPEND_SECONDS.observe(time.perf_counter() - started)
        metrics.APPENDED_EVENTS.inc(len(envelopes))
        return AppendResult(
            stream_id,
            expected_version + 1,
            envelopes[-1].stream_version,
            tuple(e.event_id for e in envelopes),
        )

    def _call_append(self, params: list[Any]) -> list[int]:
        # (Prepared once per connection, not parsed and planned with its literals every time:
        # together with the binding, 40% more appends a second.)
        with connections[self.using].wrap_database_errors, server_cursor(self.using) as cur:
            cur.execute(_APPEND_SQL, params)
            return [row[0] for row in cur.fetchall()]

    # ------------------------------------------------------------------ reading

    def read(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[EventEnvelope]:
        sql = f"{_SELECT} WHERE stream_id = %s AND stream_version >= %s"
        params: list[Any] = [stream_id, from_version]
        if to_version is not None:
            sql += " AND stream_version <= %s"
            params.append(to_version)
        if until is not None:
            sql += " AND occurred_at <= %s"
            params.append(until)
        with connection.cursor() as cur:
            cur.execute(sql + " ORDER BY stream_version", params)
            return [_envelope(self.registry, row) for row in cur.fetchall()]

    # ------------------------------------------------------------------ the log's order

    def settled_position(self) -> int:
        """The first log position (outbox id: the order in which the relay hands events to
        Kafka) that may still change: every position below it is an event committed and
        published, or a transaction rolled back for good. It follows the relay's record: its
        frontier, or the lowest gap (a transaction still open) below it."""
        with connection.cursor() as cur:
            cur.execute(_SETTLED_SQL)
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def log_ends(self) -> tuple[int, int]:
        """The settled position and the end of the log (one past the highest position taken,
        committed or not), in one query: positions in between wait for the relay's record."""
        with connection.cursor() as cur:
            cur.execute(_LOG_ENDS_SQL)
            settled, end = cur.fetchone()
        return int(settled), int(end)

    def read_log(
        self,
        start: int,
        stop: int,
        *,
        topics: Sequence[str],
        event_types: Sequence[str],
        limit: int,
    ) -> list[tuple[int, EventEnvelope]]:
        """Events of `topics` and `event_types` at log positions in [start, stop), in log
        order, with their positions."""
        with connection.cursor() as cur:
            cur.execute(_LOG_SQL, [start, stop, list(topics), list(event_types), limit])
            return [(row[0], _envelope(self.registry, row[1:])) for row in cur.fetchall()]

    def version(self, stream_id: str) -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT version FROM es_stream WHERE stream_id = %s", [stream_id])
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def load_snapshot(self, stream_id: str) -> Snapshotted | None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT stream_type, version, schema_version, state::text FROM es_snapshot "
                "WHERE stream_id = %s",
                [stream_id],
            )
            row = cur.fetchone()
        if row is None:
            return None
        return Snapshotted(stream_id, row[0], row[1], row[2], json.loads(row[3]))

    def load_stream(self, stream_id: str) -> tuple[Snapshotted | None, list[EventEnvelope]]:
        with connection.cursor() as cur:
            cur.execute(_LOAD_SQL, [stream_id])
            rows = cur.fetchall()
        first = rows[0]
        snapshot = (
            Snapshotted(stream_id, first[0], first[1], first[2], json.loads(first[3]))
            if first[1] is not None
            else None
        )
        return snapshot, [_envelope(self.registry, row[4:]) for row in rows if row[4] is not None]

    def reservation_holder(self, scope: str, value: str) -> str | None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT stream_id FROM es_reservation WHERE scope = %s AND value = %s",
                [scope, value],
            )
            row = cur.fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ idempotency

    def run_idempotent(
        self,
        key: str,
        fingerprint: str,
        run: Callable[[], R],
        *,
        encode: Callable[[R], Any],
        decode: Callable[[Any], R],
    ) -> tuple[R, bool]:
        """Run `run` once per key. A concurrent duplicate blocks on the key's row until the first
        commits, then returns the first outcome; if the first fails, the duplicate runs."""
        with transaction.atomic(using=self.using), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO es_idempotency (key, fingerprint, created_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (key) DO NOTHING",
                [key, fingerprint],
            )
            if cur.rowcount == 0:
                cur.execute(
                    "SELECT fingerprint, result::text FROM es_idempotency WHERE key = %s", [key]
                )
                stored_fp, result = cur.fetchone()
                if stored_fp != fingerprint:
                    raise IdempotencyConflict(key)
                return decode(json.loads(result)), True
            value = run()
            cur.execute(
                "UPDATE es_idempotency SET result = %s::jsonb WHERE key = %s",
                [json.dumps(encode(value)), key],
            )
            return value, False


def _envelope(registry: EventRegistry, row: Sequence[Any]) -> EventEnvelope:
    """An event as read from es_event (_SELECT's columns), upcast to its current shape."""
    (
        position,
        event_id,
        stream_id,
        stream_type,
        version,
        event_type,
        schema_version,
        occurred_at,
        actor,
        correlation_id,
        causation_id,
        trace_context,
        payload,
    ) = row
    current = registry.resolve(event_type).schema_version  # type: ignore[attr-defined]
    return EventEnvelope(
        event_id=event_id,
        stream_id=stream_id,
        stream_type=stream_type,
        stream_version=version,
        event_type=event_type,
        schema_version=current,
        occurred_at=occurred_at,
        payload=decode_payload(registry, event_type, schema_version, payload.encode()),
        actor=actor,
        correlation_id=correlation_id,
        causation_id=causation_id,
        position=position,
        trace_context=trace_context,
    )


def server_cursor(using: str = "default") -> psycopg.Cursor[Any]:
    """A psycopg cursor on Django's connection (so in its transaction) that binds parameters on
    the server, so that statements it runs often are prepared (POSTGRES_PREPARE_THRESHOLD).
    Django's own cursors bind on the client and never prepare. Values keep their Python types
    (no quoting into the SQL text), which a handler written for Django's cursor may not expect."""
    conn = connections[using]
    conn.ensure_connection()
    return psycopg.Cursor(conn.connection)


def _row(e: EventEnvelope) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "stream_version": e.stream_version,
        "event_type": e.event_type,
        "schema_version": e.schema_version,
        "occurred_at": e.occurred_at,
        "actor": e.actor,
        "correlation_id": e.correlation_id,
        "causation_id": e.causation_id,
        "trace_context": e.trace_context,
        "payload": payload_to_dict(e.payload),
    }


def _translate(exc: DatabaseError, stream_id: str, expected: int) -> Exception:
    """es_append's SQLSTATEs to domain errors; anything else passes through."""
    diag = getattr(exc.__cause__, "diag", None)
    state = getattr(diag, "sqlstate", None)
    detail = getattr(diag, "message_detail", None) or ""
    if state == "ES001":
        return ConcurrencyError(stream_id, expected, int(detail or 0))
    if state == "ES002":
        message = getattr(diag, "message_primary", "") or ""
        scope, _, rest = message.partition(" ")
        value = rest.removesuffix(" is already taken")
        return UniquenessError(scope, value, detail)
    if isinstance(exc, IntegrityError) and "es_event_stream_version_uniq" in str(exc):
        return ConcurrencyError(stream_id, expected, expected + 1)
    return exc


class PostgresKeyVault:
    """Keys in es_subject_key, through Django's connection (so `forget` commits with the
    erasure's events when called inside the same transaction)."""

    def key_for(self, subject: str) -> bytes:
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO es_subject_key (subject_id, key) VALUES (%s, %s) "
                "ON CONFLICT (subject_id) DO NOTHING",
                [subject, os.urandom(32)],
            )
            cur.execute("SELECT key FROM es_subject_key WHERE subject_id = %s", [subject])
            return bytes(cur.fetchone()[0])

    def existing_keys(self, subjects: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        with connection.cursor() as cur:
            cur.execute(
                "SELECT subject_id, key FROM es_subject_key WHERE subject_id = ANY(%s)", [wanted]
            )
            return {row[0]: bytes(row[1]) for row in cur.fetchall()}

    def forget(self, subject: str) -> bool:
        with connection.cursor() as cur:
            cur.execute("DELETE FROM es_subject_key WHERE subject_id = %s", [subject])
            return bool(cur.rowcount > 0)
