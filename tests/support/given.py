"""Aggregates as given-events -> command -> expected events, without I/O."""

from __future__ import annotations

from typing import Any, TypeVar

from eventstore.aggregate import Aggregate
from eventstore.events import Metadata, new_envelope

A = TypeVar("A", bound=Aggregate)


def given(cls: type[A], stream_id: str, *events: Any) -> A:
    envelopes = [
        new_envelope(
            e,
            stream_id=stream_id,
            stream_type=cls.stream_type,
            stream_version=v,
            metadata=Metadata(),
        )
        for v, e in enumerate(events, start=1)
    ]
    return cls.rehydrate(stream_id, envelopes)


def recorded(aggregate: Aggregate) -> list[Any]:
    return aggregate.pending_events
