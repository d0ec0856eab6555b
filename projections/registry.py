"""Every projection the project runs, and the topics each reads. The composition root
(config/wiring.py) registers the modules' read models, side effects and reactions, so the engine
never imports a business module; tests and the benchmark register theirs the same way."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from eventstore.events import EventRegistry
from eventstore.kafka_admin import topic_name
from eventstore.projection import Projection, RedisProjection, SideEffect
from eventstore.reaction import Reaction
from eventstore.runtime import get_store


class UnknownProjection(LookupError):
    def __init__(self, name: str, known: list[str], message: str | None = None) -> None:
        super().__init__(
            message or f"no projection named {name!r}; known: {', '.join(known) or 'none'}"
        )
        self.name = name


_read_models: list[type[Projection]] = []
_side_effects: list[type[SideEffect]] = []
_reactions: list[type[Reaction]] = []


def register(
    *,
    read_models: Iterable[type[Projection]] = (),
    side_effects: Iterable[type[SideEffect]] = (),
    reactions: Iterable[type[Reaction]] = (),
) -> None:
    """Add consumers to the ones the engine runs."""
    _read_models.extend(read_models)
    _side_effects.extend(side_effects)
    _reactions.extend(reactions)
    _rebuild()


def unregister_read_models() -> None:
    """Forget every read model registered so far (the benchmark runs only its own)."""
    _read_models.clear()
    _rebuild()


def _rebuild() -> None:
    projections.cache_clear()
    side_effects.cache_clear()
    reactions.cache_clear()


@functools.cache
def projections() -> dict[str, Projection]:
    from projections.targets import redis_namespace

    found: dict[str, Projection] = {}
    for cls in _read_models:
        instance = cls(redis_namespace(cls.name)) if issubclass(cls, RedisProjection) else cls()
        if instance.name in found:
            raise ValueError(f"two projections are named {instance.name!r}")
        found[instance.name] = instance
    return found


@functools.cache
def side_effects() -> dict[str, SideEffect]:
    found: dict[str, SideEffect] = {}
    for cls in _side_effects:
        instance = cls()
        if instance.name in found or instance.name in projections():
            raise ValueError(f"two consumers are named {instance.name!r}")
        found[instance.name] = instance
    return found


@functools.cache
def reactions() -> dict[str, Reaction]:
    found: dict[str, Reaction] = {}
    for cls in _reactions:
        instance = cls()
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
    return [topic_name(module) for module in projection.topics]


def readers_of(topic: str) -> list[Projection]:
    return [p for p in consumers().values() if topic in topics_of(p)]


def event_registry() -> EventRegistry:
    return get_store().registry
