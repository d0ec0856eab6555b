"""An in-memory event store with the same contract as the Postgres one, for unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from eventstore.aggregate import Snapshotted
from eventstore.errors import ConcurrencyError, IdempotencyConflict, UniquenessError
from eventstore.events import EventEnvelope, EventRegistry, Metadata, new_envelope
from eventstore.serialization import decode_payload, encode_payload
from eventstore.store import AppendResult, Claim, InlineProjection, Release, wants

R = TypeVar("R")


class InMemoryEventStore:
    def __init__(
        self, registry: EventRegistry, inline_projections: Sequence[InlineProjection] = ()
    ) -> None:
        self.registry = registry
        self.inline_projections = list(inline_projections)
        self._lock = threading.RLock()
        self._streams: dict[str, list[EventEnvelope]] = {}
        self._snapshots: dict[str, Snapshotted] = {}
        self._reservations: dict[tuple[str, str], str] = {}
        self._idempotency: dict[str, tuple[str, Any]] = {}
        self.outbox: list[EventEnvelope] = []
        self._position = 0

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
        with self._lock:
            stream = self._streams.get(stream_id, [])
            if len(stream) != expected_version:
                raise ConcurrencyError(stream_id, expected_version, len(stream))
            reserved = dict(self._reservations)
            for op in reservations:
                key = (op.scope, op.value)
                if isinstance(op, Claim):
                    holder = reserved.get(key)
                    if holder is not None and holder != stream_id:
                        raise UniquenessError(op.scope, op.value, holder)
                    reserved[key] = stream_id
                elif reserved.get(key) == stream_id:
                    del reserved[key]
            new = []
            for i, event in enumerate(events, start=expected_version + 1):
                # Round-trip through JSON, as the real store does: catches unserializable events.
                stored = decode_payload(
                    self.registry, event.event_type, event.schema_version, encode_payload(event)
                )
                self._position += 1
                envelope = new_envelope(
                    stored,
                    stream_id=stream_id,
                    stream_type=stream_type,
                    stream_version=i,
                    metadata=metadata or Metadata(),
                )
                new.append(_with_position(envelope, self._position))
            for projection in self.inline_projections:
                if not wants(projection, stream_type):
                    continue
                projection(new)
            self._reservations = reserved
            self._streams[stream_id] = stream + new
            self.outbox.extend(new)
            if snapshot is not None:
                self._snapshots[stream_id] = snapshot
            return AppendResult(
                stream_id,
                expected_version + 1,
                new[-1].stream_version,
                tuple(e.event_id for e in new),
            )

    def read(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[EventEnvelope]:
        with self._lock:
            return [
                e
                for e in self._streams.get(stream_id, [])
                if e.stream_version >= from_version
                and (to_version is None or e.stream_version <= to_version)
                and (until is None or e.occurred_at <= until)
            ]

    def version(self, stream_id: str) -> int:
        with self._lock:
            return len(self._streams.get(stream_id, []))

    def load_snapshot(self, stream_id: str) -> Snapshotted | None:
        return self._snapshots.get(stream_id)

    def load_stream(self, stream_id: str) -> tuple[Snapshotted | None, list[EventEnvelope]]:
        with self._lock:
            snapshot = self._snapshots.get(stream_id)
            after = snapshot.version if snapshot else 0
            tail = [e for e in self._streams.get(stream_id, []) if e.stream_version > after]
        return snapshot, tail

    def reservation_holder(self, scope: str, value: str) -> str | None:
        return self._reservations.get((scope, value))

    def run_idempotent(
        self,
        key: str,
        fingerprint: str,
        run: Callable[[], R],
        *,
        encode: Callable[[R], Any],
        decode: Callable[[Any], R],
    ) -> tuple[R, bool]:
        with self._lock:
            if key in self._idempotency:
                stored_fp, result = self._idempotency[key]
                if stored_fp != fingerprint:
                    raise IdempotencyConflict(key)
                return decode(result), True
            value = run()
            self._idempotency[key] = (fingerprint, encode(value))
            return value, False


def _with_position(envelope: EventEnvelope, position: int) -> EventEnvelope:
    from dataclasses import replace

    return replace(envelope, position=position)
