"""Projection dispatch: one call per event, or per run of consecutive events for batch handlers,
always in log order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, handles, handles_batch


@dataclass(frozen=True)
class Added:
    event_type: ClassVar[str] = "test.Added"
    schema_version: ClassVar[int] = 1
    n: int


@dataclass(frozen=True)
class Removed:
    event_type: ClassVar[str] = "test.Removed"
    schema_version: ClassVar[int] = 1
    n: int


@dataclass(frozen=True)
class Renamed:
    event_type: ClassVar[str] = "test.Renamed"
    schema_version: ClassVar[int] = 1
    n: int


class Recorder(PostgresProjection):
    name = "test.recorder"
    topics = ("test",)

    @handles_batch(Added, Removed)
    def _counts(self, calls: list[Any], envelopes: list[EventEnvelope]) -> None:
        calls.append(("batch", [e.payload.n for e in envelopes]))

    @handles(Renamed)
    def _renamed(self, calls: list[Any], envelope: EventEnvelope) -> None:
        calls.append(("one", envelope.payload.n))


def envelope(payload: Any, version: int) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        stream_id="s",
        stream_type="test.S",
        stream_version=version,
        event_type=payload.event_type,
        schema_version=1,
        occurred_at=datetime.now(UTC),
        payload=payload,
    )


def test_runs_of_a_batch_handler_come_in_one_call_in_log_order() -> None:
    payloads = [Added(1), Removed(2), Added(3), Renamed(4), Renamed(5), Added(6)]
    calls: list[Any] = []
    Recorder().apply_many(calls, [envelope(p, i) for i, p in enumerate(payloads, 1)])
    assert calls == [("batch", [1, 2, 3]), ("one", 4), ("one", 5), ("batch", [6])]


def test_apply_of_one_event_reaches_a_batch_handler_as_a_list() -> None:
    calls: list[Any] = []
    Recorder().apply(calls, envelope(Added(7), 1))
    assert calls == [("batch", [7])]
