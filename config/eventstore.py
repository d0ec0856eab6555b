"""Wires the event store: which events exist, which topic each stream goes to."""

from __future__ import annotations

import importlib

from django.conf import settings
from django.utils.module_loading import import_string

from eventstore.events import EventRegistry
from eventstore.postgres import PostgresEventStore


def topic_for(stream_type: str) -> str:
    """`products.Product` -> `<prefix>products.events`: one topic per module."""
    module = stream_type.split(".", 1)[0]
    if module not in settings.EVENT_MODULES:
        raise ValueError(
            f"stream type {stream_type!r} belongs to no module {settings.EVENT_MODULES}"
        )
    return f"{settings.KAFKA_TOPIC_PREFIX}{module}.events"


def build_registry() -> EventRegistry:
    registry = EventRegistry()
    for module in settings.EVENT_MODULES:
        try:
            events = importlib.import_module(f"apps.{module}.events")
        except ModuleNotFoundError as exc:
            if exc.name != f"apps.{module}.events":
                raise
            continue
        registry.register_module(events)
        upcasters = getattr(events, "register_upcasters", None)
        if upcasters is not None:
            upcasters(registry)
    for path in settings.EVENTSTORE_EXTRA_EVENT_MODULES:
        extra = importlib.import_module(path)
        registry.register_module(extra)
        if hasattr(extra, "register_upcasters"):
            extra.register_upcasters(registry)
    return registry


def build_store() -> PostgresEventStore:
    return PostgresEventStore(
        build_registry(),
        topic_for=topic_for,
        inline_projections=[import_string(p) for p in settings.EVENTSTORE_INLINE_PROJECTIONS],
    )
