"""The event store contract, shared by the Postgres store and the in-memory one for unit tests.

`append` writes events to one stream atomically, only if the stream is at `expected_version`
(else ConcurrencyError), together with uniqueness claims/releases, an optional snapshot, outbox
rows and inline projections. `run_idempotent` executes a command once per idempotency key.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import msgspec

from eventstore.aggregate import Snapshotted
from eventstore.events import EventEnvelope, EventRegistry, Metadata
from eventstore.tokens import ConsistencyToken

R = TypeVar("R")


@dataclass(frozen=True)
class Claim:
    """Reserve a unique value for this stream (idempotent for the stream that holds it)."""

    scope: str
    value: str


@dataclass(frozen=True)
class Release:
    """Free a value this stream holds (a no-op if it holds none)."""

    scope: str
    value: str


@dataclass(frozen=True)
class AppendResult:
    stream_id: str
    from_version: int
    to_version: int
    event_ids: tuple[uuid.UUID, ...]

    @property
    def version(self) -> int:
        return self.to_version

    @property
    def token(self) -> ConsistencyToken:
        return ConsistencyToken(self.stream_id, self.to_version, self.event_ids[-1])


class InlineProjection(Protocol):
    """Updates a strongly consistent read model inside the append transaction. It may carry a
    `stream_types` attribute (a collection) to be called only for appends to those streams."""

    def __call__(self, envelopes: Sequence[EventEnvelope]) -> None: ...


def wants(projection: InlineProjection, stream_type: str) -> bool:
    """Whether an append to `stream_type` calls this inline projection. Appends that call none
    keep their one-statement transaction."""
    wanted = getattr(projection, "stream_types", None)
    return wanted is None or stream_type in wanted


class EventStore(Protocol):
    registry: EventRegistry

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
    ) -> AppendResult: ...

    def read(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[EventEnvelope]: ...

    def version(self, stream_id: str) -> int: ...

    def load_snapshot(self, stream_id: str) -> Snapshotted | None: ...

    def load_stream(self, stream_id: str) -> tuple[Snapshotted | None, list[EventEnvelope]]:
        """The stream's snapshot (if any) and the events after it, read together (one round
        trip where the store can)."""
        ...

    def reservation_holder(self, scope: str, value: str) -> str | None: ...

    def run_idempotent(
        self,
        key: str,
        fingerprint: str,
        run: Callable[[], R],
        *,
        encode: Callable[[R], Any],
        decode: Callable[[Any], R],
    ) -> tuple[R, bool]: ...


def fingerprint(*parts: Any) -> str:
    """A stable hash of a command (name and fields) to detect a reused idempotency key."""
    raw = msgspec.json.encode(parts, enc_hook=str, order="sorted")
    return hashlib.sha256(raw).hexdigest()
