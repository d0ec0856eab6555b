"""Every projection the project runs, and the topics each reads. Built from settings.PROJECTIONS
(dotted paths), so modules declare their read models without the engine importing them."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from eventstore.events import EventRegistry
from eventstore.projection import Projection, RedisProjection, SideEffect
from eventstore.reaction import Reaction
from eventstore.runtime import get_store


class UnknownProjection(LookupError):
    def __init__(self, name: str, known: list[str], message: str | None = None) -> None:
        super().__init__(
            message or f"no projection named {name!r}; known: {', '.join(known) or 'none'}"
        )
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


@functools.cache
def side_effects() -> dict[str, SideEffect]:
    found: dict[str, SideEffect] = {}
    for path in settings.SIDE_EFFECTS:
        instance = import_string(path)()
        if instance.name in found or instance.name in projections():
            raise ValueError(f"two consumers are named {instance.name!r}")
        found[instance.name] = instance
    return found


@functools.cache
def reactions() -> dict[str, Reaction]:
    found: dict[str, Reaction] = {}
    for path in settings.REACTIONS:
        instance = import_string(path)()
        if instance.name in found or instance.name in projections():
            raise ValueError(f"two consumers are named {instance.name!r}")
        found[instance.name] = instance
    return found


def reaction(name: str) -> Reaction:
    try:
        return reactions()[name]
    except KeyError:
        raise UnknownProjection(
            name,
            sorted(reactions()),
            f"no reaction named {name!r}; known: {', '.join(sorted(reactions())) or 'none'}",
        ) from None


def get(name: str) -> Projection:
    """A read model (never a side effect nor a reaction: those are not rebuilt)."""
    try:
        return projections()[name]
    except KeyError:
        if name in reactions():
            raise UnknownProjection(
                name,
                sorted(projections()),
                f"{name!r} is a reaction, not a read model: it decides (issues commands, "
                "creates notifications), so a replay never runs it again. To re-run part of "
                f"its history on purpose: manage.py reactions reset {name} --to POSITION "
                "--dry-run",
            ) from None
        if name in side_effects():
            raise UnknownProjection(
                name,
                sorted(projections()),
                f"{name!r} is a side effect; side effects are never "
                "replayed (their jobs run once per event)",
            ) from None
        raise UnknownProjection(name, sorted(projections())) from None


def side_effect(name: str) -> SideEffect:
    return side_effects()[name]


def consumer(name: str) -> Projection:
    """Anything the engine catches up: a read model or a side effect."""
    if name in side_effects():
        return side_effects()[name]
    return get(name)


def consumers() -> dict[str, Projection]:
    return {**projections(), **side_effects()}


def topics_of(projection: Projection) -> list[str]:
    return [f"{settings.KAFKA_TOPIC_PREFIX}{module}.events" for module in projection.topics]


def readers_of(topic: str) -> list[Projection]:
    return [p for p in consumers().values() if topic in topics_of(p)]


def event_registry() -> EventRegistry:
    return get_store().registry
