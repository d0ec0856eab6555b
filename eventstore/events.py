"""Domain events, their registry, and the envelope that carries them.

A domain event is a frozen dataclass with two class attributes: `event_type`, a stable name
(`"products.PriceChanged"`) that never changes once events are stored, and `schema_version`, bumped
when its fields change (an upcaster then turns old payloads into the current shape). Modules'
`events.py` stay stdlib-only: the registry recognises events by these attributes, not by a base
class, so the published language does not depend on this package.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, ClassVar, Protocol, runtime_checkable

from eventstore.errors import SerializationError, UnknownEventType
from eventstore.tracing import current_traceparent

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@runtime_checkable
class DomainEvent(Protocol):
    event_type: ClassVar[str]
    schema_version: ClassVar[int]


def is_event_class(obj: object) -> bool:
    return (
        isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and isinstance(getattr(obj, "event_type", None), str)
        and isinstance(getattr(obj, "schema_version", None), int)
    )


class EventRegistry:
    """Maps stable type names to event classes, and (type, version) to upcasters."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: type) -> type:
        if not is_event_class(cls):
            raise TypeError(f"{cls!r} is not an event: a dataclass with event_type/schema_version")
        params = getattr(cls, "__dataclass_params__", None)
        if params is None or not params.frozen:
            raise TypeError(f"event {cls.__name__} must be a frozen dataclass")
        name: str = cls.event_type  # type: ignore[attr-defined]
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {name!r} registered twice ({existing!r}, {cls!r})")
        self._classes[name] = cls
        return cls

    def register_module(self, module: ModuleType) -> None:
        for obj in vars(module).values():
            if is_event_class(obj) and obj.__module__ == module.__name__:
                self.register(obj)

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: `fn(payload_at_from_version) -> payload_at_from_version_plus_one`."""

        def decorator(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorator

    def resolve(self, event_type: str) -> type:
        try:
            return self._classes[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def upcast(self, event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        current: int = self.resolve(event_type).schema_version  # type: ignore[attr-defined]
        if version > current:
            raise SerializationError(
                f"{event_type} v{version} is newer than this code's v{current}: deploy first"
            )
        while version < current:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise SerializationError(f"no upcaster for {event_type} from v{version}")
            payload = step(payload)
            version += 1
        return payload

    def types(self) -> Iterable[str]:
        return self._classes.keys()


@dataclass(frozen=True)
class Metadata:
    """Who and why: copied onto every event of one append."""

    actor: str | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    # W3C `traceparent` of the span that wrote the events (None: the store takes the current
    # span's, if any: see eventstore.tracing).
    trace_context: str | None = None

    def caused_by(self, envelope: EventEnvelope) -> Metadata:
        """Metadata for events written in reaction to `envelope` (same correlation)."""
        return Metadata(
            actor=self.actor,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.event_id,
        )


@dataclass(frozen=True)
class EventEnvelope:
    """A stored event: the domain event plus where and when it was recorded."""

    event_id: uuid.UUID
    stream_id: str
    stream_type: str
    stream_version: int
    event_type: str
    schema_version: int
    occurred_at: datetime
    payload: Any
    actor: str | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    position: int | None = field(default=None, compare=False)
    # The W3C traceparent of the span that appended it: whoever applies it links to that trace.
    trace_context: str | None = None


def new_envelope(
    event: Any,
    *,
    stream_id: str,
    stream_type: str,
    stream_version: int,
    metadata: Metadata,
    occurred_at: datetime | None = None,
) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        stream_id=stream_id,
        stream_type=stream_type,
        stream_version=stream_version,
        event_type=event.event_type,
        schema_version=event.schema_version,
        occurred_at=occurred_at or datetime.now(UTC),
        payload=event,
        actor=metadata.actor,
        correlation_id=metadata.correlation_id,
        causation_id=metadata.causation_id,
        trace_context=metadata.trace_context or current_traceparent(),
    )
