"""Every projection the project runs, and the topics each reads. Built from settings.PROJECTIONS
(dotted paths), so modules declare their read models without the engine importing them."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from eventstore.events import EventRegistry
from eventstore.projection import Projection, RedisProjection
from eventstore.runtime import get_store


class UnknownProjection(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no projection named {name!r}; known: {', '.join(known) or 'none'}")
        self.name = name


@functools.cache
def projections() -> dict[str, Projection]:
    from projections.targets import redis_namespace

    found: dict[str, Projection] = {}
    for path in settings.PROJECTIONS:
        cls = import_string(path)
        instance = cls(redis_namespace(cls.name)) if issubclass(cls, RedisProjection) else cls()
        if instance.name in found:
            raise ValueError(f"two projections are named {instance.name!r}")
        found[instance.name] = instance
    return found


def get(name: str) -> Projection:
    try:
        return projections()[name]
    except KeyError:
        raise UnknownProjection(name, sorted(projections())) from None


def topics_of(projection: Projection) -> list[str]:
    return [f"{settings.KAFKA_TOPIC_PREFIX}{module}.events" for module in projection.topics]


def readers_of(topic: str) -> list[Projection]:
    return [p for p in projections().values() if topic in topics_of(p)]


def event_registry() -> EventRegistry:
    return get_store().registry
