"""Aggregates as given-events -> command -> expected events; the repository over them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from eventstore.aggregate import Snapshotted
from eventstore.events import EventEnvelope, Metadata, new_envelope
from eventstore.memory import InMemoryEventStore
from eventstore.repository import AggregateNotFound, Repository
from tests.support.ledger import (
    STREAM_TYPE,
    Deposited,
    InsufficientFunds,
    Ledger,
    LedgerOpened,
    Renamed,
    Withdrawn,
    registry,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def given(*events: object) -> Ledger:
    envelopes: list[EventEnvelope] = [
        new_envelope(
            e, stream_id="l-1", stream_type=STREAM_TYPE, stream_version=i, metadata=Metadata()
        )
        for i, e in enumerate(events, start=1)
    ]
    return Ledger.rehydrate("l-1", envelopes)


def test_opening_records_ledger_opened() -> None:
    ledger = Ledger.open("l-1", "Ada", "EUR", T0)
    assert ledger.pending_events == [LedgerOpened(owner="Ada", currency="EUR", opened_at=T0)]
    assert (ledger.owner, ledger.version, ledger.balance) == ("Ada", 1, Decimal(0))


def test_withdrawing_within_the_balance_records_withdrawn() -> None:
    ledger = given(LedgerOpened("Ada", "EUR", T0), Deposited(amount=Decimal("10.00")))
    ledger.withdraw(Decimal("2.50"))
    assert ledger.pending_events == [Withdrawn(amount=Decimal("2.50"))]
    assert ledger.balance == Decimal("7.50") and ledger.version == 3


def test_withdrawing_more_than_the_balance_is_refused_and_records_nothing() -> None:
    ledger = given(LedgerOpened("Ada", "EUR", T0), Deposited(amount=Decimal(1)))
    with pytest.raises(InsufficientFunds):
        ledger.withdraw(Decimal(2))
    assert ledger.pending_events == [] and ledger.version == 2


def test_replaying_out_of_order_events_is_refused() -> None:
    envelope = new_envelope(
        LedgerOpened("Ada", "EUR", T0),
        stream_id="l-1",
        stream_type=STREAM_TYPE,
        stream_version=2,
        metadata=Metadata(),
    )
    with pytest.raises(ValueError, match="version 2 after 0"):
        Ledger.rehydrate("l-1", [envelope])


def test_an_event_without_an_applier_is_a_programming_error() -> None:
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass(frozen=True)
    class Stray:
        event_type: ClassVar[str] = "tests.Stray"
        schema_version: ClassVar[int] = 1

    with pytest.raises(TypeError, match="no applier"):
        Ledger("l-1")._record(Stray())


def test_snapshot_state_restores_the_same_aggregate() -> None:
    ledger = given(LedgerOpened("Ada", "EUR", T0), Deposited(amount=Decimal("1.10")))
    from eventstore.aggregate import Snapshotted

    snap = Snapshotted("l-1", STREAM_TYPE, ledger.version, 1, ledger.snapshot_state())
    restored = Ledger.rehydrate("l-1", [], snapshot=snap)
    assert restored.snapshot_state() == ledger.snapshot_state()
    assert restored.balance == Decimal("1.10") and restored.version == 2


def test_mutable_defaults_are_not_shared_between_aggregates() -> None:
    class Tagged(Ledger):
        tags: list[str] = []  # noqa: RUF012 - the point of the test

    a, b = Tagged("a"), Tagged("b")
    a.tags.append("x")
    assert b.tags == []


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore(registry())


def test_repository_saves_with_the_expected_version_and_loads_by_replay(
    store: InMemoryEventStore,
) -> None:
    repo = Repository(store, Ledger)
    ledger = Ledger.open("l-9", "Ada", "EUR", T0)
    ledger.deposit(Decimal(5))
    result = repo.save(ledger)
    assert (result.from_version, result.to_version) == (1, 2)
    assert ledger.pending_events == []
    loaded = repo.load("l-9")
    loaded.rename("Countess")
    repo.save(loaded)
    assert repo.load("l-9").owner == "Countess" and repo.load("l-9").version == 3
    with pytest.raises(AggregateNotFound):
        repo.load("missing")
    with pytest.raises(ValueError, match="no new events"):
        repo.save(loaded)


def test_stale_aggregate_save_is_a_concurrency_error(store: InMemoryEventStore) -> None:
    from eventstore.errors import ConcurrencyError

    repo = Repository(store, Ledger)
    repo.save(Ledger.open("l-2", "Ada", "EUR", T0))
    one, two = repo.load("l-2"), repo.load("l-2")
    one.deposit(Decimal(1))
    repo.save(one)
    two.deposit(Decimal(2))
    with pytest.raises(ConcurrencyError) as info:
        repo.save(two)
    assert (info.value.expected, info.value.actual) == (1, 2)


def test_snapshots_are_taken_every_n_events_and_loading_reads_only_the_tail(
    store: InMemoryEventStore,
) -> None:
    repo = Repository(store, Ledger, snapshot_every=10)
    ledger = Ledger.open("l-3", "Ada", "EUR", T0)
    repo.save(ledger)
    for _ in range(3):
        ledger = repo.load("l-3")
        for _ in range(8):
            ledger.deposit(Decimal(1))
        repo.save(ledger)
    assert store.load_snapshot("l-3").version == 25  # type: ignore[union-attr]
    reads: list[tuple[int, int]] = []
    original = store.read

    def spy(stream_id: str, **kw: object) -> list[EventEnvelope]:
        out = original(stream_id, **kw)  # type: ignore[arg-type]
        reads.append((kw.get("from_version", 1), len(out)))  # type: ignore[arg-type]
        return out

    loads: list[tuple[int | None, int]] = []
    original_load = store.load_stream

    def load_spy(stream_id: str) -> tuple[Snapshotted | None, list[EventEnvelope]]:
        snapshot, tail = original_load(stream_id)
        loads.append((snapshot.version if snapshot else None, len(tail)))
        return snapshot, tail

    store.read = spy  # type: ignore[method-assign]
    store.load_stream = load_spy  # type: ignore[method-assign]
    assert repo.load("l-3").balance == Decimal(24)
    assert loads == [(25, 0)] and reads == []  # the snapshot and an empty tail, read together
    assert Repository(store, Ledger).load("l-3").balance == Decimal(24)
    assert reads == [(1, 25)]


def test_temporal_loads_show_the_aggregate_as_it_was(store: InMemoryEventStore) -> None:
    repo = Repository(store, Ledger, snapshot_every=2)
    ledger = Ledger.open("l-4", "Ada", "EUR", T0)
    ledger.deposit(Decimal(1))
    repo.save(ledger)
    middle = datetime.now(UTC)
    ledger.deposit(Decimal(10))
    ledger.rename("Later")
    repo.save(ledger)
    assert repo.load("l-4", at_version=2).balance == Decimal(1)
    assert repo.load("l-4", at_version=2).version == 2
    assert repo.load("l-4", at_time=middle).owner == "Ada"
    assert repo.load("l-4", at_time=middle).balance == Decimal(1)
    with pytest.raises(AggregateNotFound):
        repo.load("l-4", at_time=T0 - timedelta(days=1))
    assert repo.load("l-4").version == 4
    assert isinstance(repo.load("l-4").pending_events, list)
    assert Renamed(owner="Later") in [e.payload for e in store.read("l-4")]
