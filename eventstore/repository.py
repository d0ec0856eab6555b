"""Loading and saving aggregates: replay (snapshot + tail), append with the expected version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

from eventstore.aggregate import Aggregate, Snapshotted
from eventstore.errors import EventStoreError
from eventstore.events import Metadata
from eventstore.store import AppendResult, Claim, EventStore, Release

A = TypeVar("A", bound=Aggregate)


class AggregateNotFound(EventStoreError):
    def __init__(self, stream_type: str, stream_id: str) -> None:
        super().__init__(f"{stream_type} {stream_id} does not exist")
        self.stream_type = stream_type
        self.stream_id = stream_id


class Repository(Generic[A]):
    """`snapshot_every=N` stores a snapshot whenever a save crosses a multiple of N events."""

    def __init__(self, store: EventStore, cls: type[A], *, snapshot_every: int | None = None):
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1")
        self.store = store
        self.cls = cls
        self.snapshot_every = snapshot_every if cls.snapshots else None

    def load(
        self, stream_id: str, *, at_version: int | None = None, at_time: datetime | None = None
    ) -> A:
        """The aggregate now, or as it was at a version or a point in time (temporal query)."""
        if self.snapshot_every and at_time is None and at_version is None:
            # The common case, a command's load: snapshot and tail in one round trip.
            snapshot, tail = self.store.load_stream(stream_id)
            if snapshot is not None and snapshot.schema_version != self.cls.snapshot_version:
                snapshot, tail = None, self.store.read(stream_id)
            if snapshot is None and not tail:
                raise AggregateNotFound(self.cls.stream_type, stream_id)
            return self.cls.rehydrate(stream_id, tail, snapshot=snapshot)
        snapshot = None
        if self.snapshot_every and at_time is None:
            snapshot = self.store.load_snapshot(stream_id)
            if snapshot is not None and (
                snapshot.schema_version != self.cls.snapshot_version
                or (at_version is not None and snapshot.version > at_version)
            ):
                snapshot = None
        tail = self.store.read(
            stream_id,
            from_version=snapshot.version + 1 if snapshot else 1,
            to_version=at_version,
            until=at_time,
        )
        if snapshot is None and not tail:
            raise AggregateNotFound(self.cls.stream_type, stream_id)
        return self.cls.rehydrate(stream_id, tail, snapshot=snapshot)

    def exists(self, stream_id: str) -> bool:
        return self.store.version(stream_id) > 0

    def save(
        self,
        aggregate: A,
        *,
        metadata: Metadata | None = None,
        reservations: Sequence[Claim | Release] = (),
    ) -> AppendResult:
        pending = aggregate.pending_events
        if not pending:
            raise ValueError(f"{self.cls.__name__} {aggregate.id} has no new events to save")
        expected = aggregate.version - len(pending)
        snapshot = None
        if self.snapshot_every and (
            aggregate.version // self.snapshot_every > expected // self.snapshot_every
        ):
            snapshot = Snapshotted(
                stream_id=aggregate.id,
                stream_type=self.cls.stream_type,
                version=aggregate.version,
                schema_version=self.cls.snapshot_version,
                state=aggregate.snapshot_state(),
            )
        result = self.store.append(
            aggregate.id,
            self.cls.stream_type,
            pending,
            expected_version=expected,
            metadata=metadata,
            reservations=reservations,
            snapshot=snapshot,
        )
        aggregate.mark_committed()
        return result
