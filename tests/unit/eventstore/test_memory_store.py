"""The store contract against the in-memory store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from eventstore.memory import InMemoryEventStore
from tests.support.ledger import registry
from tests.support.store_contract import (
    EventStoreContract,
    InlineProjectionContract,
    RecordingProjection,
)


@pytest.fixture
def store_factory() -> Callable[[list[RecordingProjection]], InMemoryEventStore]:
    return lambda projections: InMemoryEventStore(registry(), inline_projections=projections)


@pytest.fixture
def store(
    store_factory: Callable[[list[RecordingProjection]], InMemoryEventStore],
) -> InMemoryEventStore:
    return store_factory([])


class TestInMemoryStore(EventStoreContract, InlineProjectionContract):
    pass
