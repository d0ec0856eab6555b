"""The event store on Postgres, through Django's connection so that inline projections written with
the ORM share the append transaction.

One append = one transaction: bump the stream row (the optimistic concurrency check, and a row
lock that serialises writers of one stream), claim/release unique values, insert the events and
their outbox rows, upsert the snapshot, run inline projections, and NOTIFY the relay (delivered
on commit). Unique (stream_id, stream_version) backs the check up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from django.db import IntegrityError, connection, transaction

from eventstore.aggregate import Snapshotted
from eventstore.errors import ConcurrencyError, IdempotencyConflict, UniquenessError
from eventstore.events import EventEnvelope, EventRegistry, Metadata, new_envelope
from eventstore.serialization import decode_payload, encode_payload
from eventstore.store import AppendResult, Claim, InlineProjection, Release

R = TypeVar("R")
NOTIFY_CHANNEL = "es_outbox"

_EVENT_COLUMNS = (
    "event_id, stream_id, stream_type, stream_version, event_type, schema_version, "
    "occurred_at, actor, correlation_id, causation_id, payload"
)
_SELECT = f"SELECT position, {_EVENT_COLUMNS.replace('payload', 'payload::text')} FROM es_event"


class PostgresEventStore:
    def __init__(
        self,
        registry: EventRegistry,
        *,
        topic_for: Callable[[str], str],
        inline_projections: Sequence[InlineProjection] = (),
        using: str = "default",
    ) -> None:
        self.registry = registry
        self.topic_for = topic_for
        self.inline_projections = list(inline_projections)
        self.using = using

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
        metadata = metadata or Metadata()
        new_version = expected_version + len(events)
        envelopes = [
            new_envelope(
                e, stream_id=stream_id, stream_type=stream_type, stream_version=v, metadata=metadata
            )
            for v, e in enumerate(events, start=expected_version + 1)
        ]
        payloads = [encode_payload(e).decode() for e in events]
        try:
            with transaction.atomic(using=self.using), connection.cursor() as cur:
                self._bump_stream(cur, stream_id, stream_type, expected_version, new_version)
                self._reserve(cur, stream_id, reservations)
                positions = self._insert_events(cur, envelopes, payloads)
                cur.execute(
                    "INSERT INTO es_outbox (event_position, topic) SELECT unnest(%s::bigint[]), %s",
                    [positions, self.topic_for(stream_type)],
                )
                if snapshot is not None:
                    self._save_snapshot(cur, snapshot)
                stored = [replace(e, position=p) for e, p in zip(envelopes, positions, strict=True)]
                for projection in self.inline_projections:
                    projection(stored)
                cur.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])
        except IntegrityError as exc:
            # The stream row lock makes this unreachable in practice; the unique index is the
            # last line of defence (e.g. a writer bypassing es_stream).
            if "es_event_stream_version_uniq" in str(exc):
                raise ConcurrencyError(
                    stream_id, expected_version, self.version(stream_id)
                ) from exc
            raise
        return AppendResult(
            stream_id, expected_version + 1, new_version, tuple(e.event_id for e in envelopes)
        )

    def _bump_stream(
        self, cur: Any, stream_id: str, stream_type: str, expected: int, new: int
    ) -> None:
        if expected == 0:
            cur.execute(
                "INSERT INTO es_stream (stream_id, stream_type, version) VALUES (%s, %s, %s) "
                "ON CONFLICT (stream_id) DO NOTHING",
                [stream_id, stream_type, new],
            )
        else:
            cur.execute(
                "UPDATE es_stream SET version = %s WHERE stream_id = %s AND version = %s",
                [new, stream_id, expected],
            )
        if cur.rowcount != 1:
            cur.execute("SELECT version FROM es_stream WHERE stream_id = %s", [stream_id])
            row = cur.fetchone()
            raise ConcurrencyError(stream_id, expected, row[0] if row else 0)

    def _reserve(self, cur: Any, stream_id: str, ops: Sequence[Claim | Release]) -> None:
        for op in ops:
            if isinstance(op, Release):
                cur.execute(
                    "DELETE FROM es_reservation WHERE scope = %s AND value = %s AND stream_id = %s",
                    [op.scope, op.value, stream_id],
                )
                continue
            cur.execute(
                "INSERT INTO es_reservation (scope, value, stream_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (scope, value) DO NOTHING",
                [op.scope, op.value, stream_id],
            )
            if cur.rowcount == 0:
                cur.execute(
                    "SELECT stream_id FROM es_reservation WHERE scope = %s AND value = %s",
                    [op.scope, op.value],
                )
                row = cur.fetchone()
                if row and row[0] != stream_id:
                    raise UniquenessError(op.scope, op.value, row[0])

    def _insert_events(
        self, cur: Any, envelopes: list[EventEnvelope], payloads: list[str]
    ) -> list[int]:
        rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"] * len(envelopes))
        params: list[Any] = []
        for e, payload in zip(envelopes, payloads, strict=True):
            params += [
                e.event_id,
                e.stream_id,
                e.stream_type,
                e.stream_version,
                e.event_type,
                e.schema_version,
                e.occurred_at,
                e.actor,
                e.correlation_id,
                e.causation_id,
                payload,
            ]
        cur.execute(
            f"INSERT INTO es_event ({_EVENT_COLUMNS}) VALUES {rows} RETURNING position", params
        )
        return [row[0] for row in cur.fetchall()]

    def _save_snapshot(self, cur: Any, snap: Snapshotted) -> None:
        cur.execute(
            "INSERT INTO es_snapshot (stream_id, stream_type, version, schema_version, state, "
            "created_at) VALUES (%s, %s, %s, %s, %s::jsonb, now()) ON CONFLICT (stream_id) DO "
            "UPDATE SET version = EXCLUDED.version, schema_version = EXCLUDED.schema_version, "
            "state = EXCLUDED.state, created_at = now() "
            "WHERE es_snapshot.version < EXCLUDED.version",
            [
                snap.stream_id,
                snap.stream_type,
                snap.version,
                snap.schema_version,
                json.dumps(snap.state),
            ],
        )

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
            return [self._envelope(row) for row in cur.fetchall()]

    def _envelope(self, row: Sequence[Any]) -> EventEnvelope:
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
            payload,
        ) = row
        current = self.registry.resolve(event_type).schema_version  # type: ignore[attr-defined]
        return EventEnvelope(
            event_id=event_id,
            stream_id=stream_id,
            stream_type=stream_type,
            stream_version=version,
            event_type=event_type,
            schema_version=current,
            occurred_at=occurred_at,
            payload=decode_payload(self.registry, event_type, schema_version, payload.encode()),
            actor=actor,
            correlation_id=correlation_id,
            causation_id=causation_id,
            position=position,
        )

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
