"""Reactions: code that consumes events and *decides* (issues commands, records notifications).

The contract modules implement; the engine (`projections/reactions/`) runs it. A reaction is
not a read model: a replay never rebuilds it, because running it again would decide again,
against a different world. It reads every event of its topics in one order, the store's log
position (the order in which the relay hands events to Kafka), and decides on the facts as of
each event: what was recorded before the event counts, nothing recorded after it does.

Its facts are its own. `@remembers` handlers record them from the events (who watches what,
who is staff, a product's name) in a history kept per position; `@reacts_to` handlers decide,
reading the facts as they stood just before their event, whatever has happened since and
however far the read models lag:

    class Notifier(Reaction):
        name = "notifications.reactions"
        topics = ("users", "products")

        @remembers(ProductWatched)
        def _watched(self, facts, e):
            facts.put("watchers", e.payload.product_id, e.payload.profile_id)

        @reacts_to(PriceChanged)
        def notify_watchers_of_price_drop(self, facts, e):
            for account_id in facts.keys("watchers", e.payload.product_id):
                ...

A decision is made in the same transaction as the reaction's checkpoint, so it is made once per
event; anything it creates should take an id derived from the triggering event, so that an
operator's re-run of a range creates nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar

from eventstore.events import EventEnvelope

F = TypeVar("F", bound=Callable[..., None])


class Facts(Protocol):
    """A reaction's facts as of one event. Reads see what was recorded before the event;
    writes are recorded at the event's position (and do nothing if the same fact already
    changed at or after it: a re-run records nothing twice)."""

    def put(self, scope: str, subject: str, key: str = "", value: Any = True) -> None: ...

    def drop(self, scope: str, subject: str, key: str = "") -> None: ...

    def forget(self, ident: str) -> None:
        """Drop every fact whose subject or key is `ident` (an erased person)."""

    def get(self, scope: str, subject: str, key: str = "") -> Any:
        """The value, or None when there is no such fact."""

    def keys(self, scope: str, subject: str) -> list[str]: ...

    def subjects(self, scope: str, key: str = "") -> list[str]: ...


def _mark(attribute: str, event_classes: tuple[type, ...]) -> Callable[[F], F]:
    def decorator(fn: F) -> F:
        setattr(fn, attribute, tuple(c.event_type for c in event_classes))  # type: ignore[attr-defined]
        return fn

    return decorator


def remembers(*event_classes: type) -> Callable[[F], F]:
    """Mark a method that records facts from these events: `(self, facts, envelope)`."""
    return _mark("_remembers", event_classes)


def reacts_to(*event_classes: type) -> Callable[[F], F]:
    """Mark a method that decides on these events: `(self, facts, envelope)`."""
    return _mark("_reacts_to", event_classes)


class Reaction:
    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]  # the modules whose events it reads
    _recorders: ClassVar[dict[str, Callable[..., None]]]
    _deciders: ClassVar[dict[str, Callable[..., None]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        recorders: dict[str, Callable[..., None]] = {}
        deciders: dict[str, Callable[..., None]] = {}
        for klass in reversed(cls.__mro__):
            for name, attr in vars(klass).items():
                for found, mark in ((recorders, "_remembers"), (deciders, "_reacts_to")):
                    for event_type in getattr(attr, mark, ()):
                        other = found.get(event_type)
                        if other is not None and other.__name__ != name:
                            raise TypeError(
                                f"{cls.__name__}: {event_type} has two {mark.strip('_')} "
                                f"handlers, {other.__name__} and {name}"
                            )
                        found[event_type] = attr
        cls._recorders, cls._deciders = recorders, deciders

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._recorders) | frozenset(self._deciders)

    def handles_type(self, event_type: str) -> bool:
        return event_type in self._recorders or event_type in self._deciders

    def decides_on(self, event_type: str) -> bool:
        return event_type in self._deciders

    def apply(self, facts: Facts, envelope: EventEnvelope, *, decide: bool = True) -> None:
        """Decide (unless `decide` is False: an operator skipped this range), then record.
        The order does not matter to the decision: reads never see this event's own facts."""
        decider = self._deciders.get(envelope.event_type)
        if decide and decider is not None:
            decider(self, facts, envelope)
        recorder = self._recorders.get(envelope.event_type)
        if recorder is not None:
            recorder(self, facts, envelope)
