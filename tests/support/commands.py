"""Command handlers through the real dispatcher, on the in-memory store: given events ->
command -> expected events, with no server.

    shop = Shop()
    shop.given(PRODUCT, ProductCreated(...))
    assert shop.when(ChangePrice(PRODUCT, Decimal("9"), "EUR")) == [PriceChanged(...)]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps.accounts.handlers import ForgetErasedKeys
from apps.shared.bus import SYSTEM, Bus, Context
from config.eventstore import build_registry
from config.wiring import EVENT_MODULES, HANDLERS
from eventstore import personal, runtime
from eventstore.idempotency import CommandResult
from eventstore.memory import InMemoryEventStore


class Shop:
    """The bus as config/wiring.py builds it, on an in-memory store (installed as the process's
    store, as the modules' facades read it) and an in-memory key vault."""

    def __init__(self) -> None:
        self.store = InMemoryEventStore(
            build_registry(EVENT_MODULES), inline_projections=[ForgetErasedKeys()]
        )
        self.bus = Bus(self.store, HANDLERS)
        self.vault = personal.MemoryKeyVault()
        self.result: CommandResult | None = None

    def given(self, stream_id: str, stream_type: str, *events: Any) -> None:
        version = self.store.version(stream_id)
        self.store.append(stream_id, stream_type, list(events), expected_version=version)

    def when(self, command: object, ctx: Context = SYSTEM) -> list[Any]:
        """The events the command appended (none when it changed nothing)."""
        before = len(self.store.outbox)
        self.result = self.bus.dispatch(command, ctx)
        return [e.payload for e in self.store.outbox[before:]]

    def stream(self, stream_id: str) -> list[Any]:
        return [e.payload for e in self.store.read(stream_id)]


def installed_shop() -> Iterator[Shop]:
    """A Shop installed as the process's store and vault for a test (a fixture's body)."""
    made = Shop()
    previous_store = runtime.install(made.store)
    previous_vault = personal.set_vault(made.vault)
    try:
        yield made
    finally:
        runtime.install(previous_store)
        personal.set_vault(previous_vault)
