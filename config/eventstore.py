"""The event store's configuration: which events exist, which topic each module's streams go to."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from django.conf import settings

from eventstore.events import EventRegistry
from eventstore.kafka_admin import topic_name


def topics() -> dict[str, str]:
    """Each module's topic (a stream type `products.Product` belongs to module `products`)."""
    return {module: topic_name(module) for module in settings.EVENT_MODULES}


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
