"""Aggregates: pure Python objects whose state changes only by applying events.

A command method checks invariants (raising a domain error) and then calls `self._record(event)`,
which applies the event and keeps it as pending. Loading replays stored events through the same
appliers, so state after load equals state after the commands that produced it.

    class Product(Aggregate):
        stream_type = "products.Product"
        price: Decimal = Decimal(0)

        def change_price(self, price: Decimal) -> None:
            if price <= 0:
                raise InvalidPrice(price)
            self._record(PriceChanged(product_id=self.id, price=price))

        @applies(PriceChanged)
        def _price_changed(self, event: PriceChanged) -> None:
            self.price = event.price
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self, TypeVar

import msgspec

from eventstore.events import EventEnvelope

F = TypeVar("F", bound=Callable[..., None])


def applies(*event_classes: type) -> Callable[[F], F]:
    """Mark a method as the applier of the given event classes."""

    def decorator(fn: F) -> F:
        fn._applies = event_classes  # type: ignore[attr-defined]
        return fn

    return decorator


class Aggregate:
    stream_type: ClassVar[str]
    # Bump when the aggregate's state fields change: older snapshots are then ignored.
    snapshot_version: ClassVar[int] = 1
    # False for aggregates whose state holds personal data: a snapshot would keep it in clear,
    # out of reach of crypto-shredding.
    snapshots: ClassVar[bool] = True
    _appliers: ClassVar[dict[type, Callable[[Any, Any], None]]]
    _state_fields: ClassVar[dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        appliers: dict[type, Callable[[Any, Any], None]] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for event_cls in getattr(attr, "_applies", ()):
                    appliers[event_cls] = attr
        cls._appliers = appliers

    def __init__(self, id: str) -> None:
        self.id = id
        self.version = 0
        self._pending: list[Any] = []
        type(self)._initial_state(self)

    # -- writing

    def _record(self, event: Any) -> None:
        self._apply(event)
        self._pending.append(event)

    def _apply(self, event: Any) -> None:
        applier = self._appliers.get(type(event))
        if applier is None:
            raise TypeError(f"{type(self).__name__} has no applier for {type(event).__name__}")
        applier(self, event)
        self.version += 1

    @property
    def pending_events(self) -> list[Any]:
        return list(self._pending)

    def mark_committed(self) -> None:
        self._pending.clear()

    # -- loading

    @classmethod
    def rehydrate(
        cls, id: str, envelopes: Iterable[EventEnvelope], *, snapshot: Snapshotted | None = None
    ) -> Self:
        agg = cls.__new__(cls)
        Aggregate.__init__(agg, id)
        if snapshot is not None:
            agg._restore(snapshot.state)
            agg.version = snapshot.version
        for envelope in envelopes:
            if envelope.stream_version != agg.version + 1:
                raise ValueError(
                    f"stream {id}: event version {envelope.stream_version} after {agg.version}"
                )
            agg._apply(envelope.payload)
        return agg

    @classmethod
    def _initial_state(cls, agg: Aggregate) -> None:
        """Class-level defaults of the state fields become instance attributes (copied, so a
        mutable default is never shared between aggregates)."""
        for name in cls.state_fields():
            if hasattr(cls, name):
                setattr(agg, name, copy.copy(getattr(cls, name)))

    # -- snapshots

    @classmethod
    def state_fields(cls) -> dict[str, Any]:
        # Resolved once per class: typing.get_type_hints is slow, and every load needs them.
        cached = cls.__dict__.get("_state_fields")
        if cached is None:
            cached = {
                name: hint
                for name, hint in typing.get_type_hints(cls).items()
                if not name.startswith("_")
                and name not in ("id", "version")
                and typing.get_origin(hint) is not ClassVar
                and hint is not ClassVar
            }
            cls._state_fields = cached
        return cached

    def snapshot_state(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.state_fields() if hasattr(self, name)}
        data: dict[str, Any] = msgspec.to_builtins(state)
        return data

    def _restore(self, state: dict[str, Any]) -> None:
        for name, hint in self.state_fields().items():
            if name in state:
                setattr(self, name, msgspec.convert(state[name], hint))


class Snapshotted(msgspec.Struct, frozen=True):
    """A stored snapshot: the aggregate's state at `version`."""

    stream_id: str
    stream_type: str
    version: int
    schema_version: int
    state: dict[str, Any]
