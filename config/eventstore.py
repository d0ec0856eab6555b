"""The event store's configuration: which events exist, which topic each stream goes to."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from django.conf import settings

from eventstore.events import EventRegistry


def topic_for(stream_type: str) -> str:
    """`products.Product` -> `<prefix>products.events`: one topic per module."""
    module = stream_type.split(".", 1)[0]
    if module not in settings.EVENT_MODULES:
        raise ValueError(
            f"stream type {stream_type!r} belongs to no module {settings.EVENT_MODULES}"
        )
    return f"{settings.KAFKA_TOPIC_PREFIX}{module}.events"


def build_registry(event_modules: Iterable[ModuleType]) -> EventRegistry:
    """The registry of these modules' events, with the upcasters each module declares
    (`register_upcasters(registry)`)."""
    registry = EventRegistry()
    for events in event_modules:
        add_events(registry, events)
    return registry


def add_events(registry: EventRegistry, events: ModuleType) -> None:
    registry.register_module(events)
    upcasters = getattr(events, "register_upcasters", None)
    if upcasters is not None:
        upcasters(registry)
