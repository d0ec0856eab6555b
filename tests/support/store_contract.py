"""The event store contract, run against every store (in-memory and Postgres).

Subclasses provide a `store` fixture. Each test names the behaviour it pins down.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from eventstore.aggregate import Snapshotted
from eventstore.errors import ConcurrencyError, IdempotencyConflict, UniquenessError
from eventstore.events import EventEnvelope, Metadata
from eventstore.store import Claim, EventStore, Release
from tests.support.ledger import STREAM_TYPE, Deposited, LedgerOpened, Renamed, Withdrawn


def sid() -> str:
    return f"ledger-{uuid.uuid4()}"


def opened(owner: str = "Ada") -> LedgerOpened:
    return LedgerOpened(owner=owner, currency="EUR", opened_at=datetime(2026, 1, 2, tzinfo=UTC))


def _same(value: dict[str, int]) -> dict[str, int]:
    return value


class _NotSerializable:
    event_type = "tests.Deposited"
    schema_version = 1


class EventStoreContract:
    store: EventStore

    def test_appended_events_read_back_in_order_with_metadata(self, store: EventStore) -> None:
        stream = sid()
        meta = Metadata(actor="user:1", correlation_id=uuid.uuid4(), causation_id=uuid.uuid4())
        result = store.append(
            stream,
            STREAM_TYPE,
            [opened(), Deposited(amount=Decimal("1.10"))],
            expected_version=0,
            metadata=meta,
        )
        assert (result.from_version, result.to_version) == (1, 2)
        events = store.read(stream)
        assert [e.stream_version for e in events] == [1, 2]
        assert [e.payload for e in events][0] == opened()
        assert events[1].payload.amount == Decimal("1.10")
        assert [e.event_id for e in events] == list(result.event_ids)
        for e in events:
            assert (e.actor, e.correlation_id, e.causation_id) == (
                meta.actor,
                meta.correlation_id,
                meta.causation_id,
            )
            assert e.stream_id == stream and e.stream_type == STREAM_TYPE
            assert e.occurred_at.tzinfo is not None
        positions = [e.position or 0 for e in events]
        assert positions == sorted(positions) and 0 not in positions
        assert result.token.version == 2 and result.token.event_id == result.event_ids[-1]

    def test_wrong_expected_version_raises_concurrency_error_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        stream = sid()
        store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
        for expected in (0, 2, 5):
            with pytest.raises(ConcurrencyError) as info:
                store.append(
                    stream, STREAM_TYPE, [Deposited(amount=Decimal(1))], expected_version=expected
                )
            assert (info.value.expected, info.value.actual) == (expected, 1)
            assert info.value.stream_id == stream
        assert store.version(stream) == 1
        assert len(store.read(stream)) == 1

    def test_a_new_stream_must_be_appended_at_version_zero(self, store: EventStore) -> None:
        with pytest.raises(ConcurrencyError) as info:
            store.append(sid(), STREAM_TYPE, [opened()], expected_version=3)
        assert (info.value.expected, info.value.actual) == (3, 0)

    def test_many_events_are_appended_atomically(self, store: EventStore) -> None:
        stream = sid()
        store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
        with pytest.raises(Exception):  # noqa: B017 - whatever the serializer raises
            store.append(
                stream,
                STREAM_TYPE,
                [Deposited(amount=Decimal(1)), _NotSerializable()],
                expected_version=1,
            )
        assert store.version(stream) == 1
        assert [e.stream_version for e in store.read(stream)] == [1]

    def test_appending_no_events_is_refused(self, store: EventStore) -> None:
        with pytest.raises(ValueError):
            store.append(sid(), STREAM_TYPE, [], expected_version=0)

    def test_reads_from_a_version_up_to_a_version_and_up_to_a_time(self, store: EventStore) -> None:
        stream = sid()
        store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
        for v in range(1, 6):
            store.append(stream, STREAM_TYPE, [Deposited(amount=Decimal(v))], expected_version=v)
        assert [e.stream_version for e in store.read(stream, from_version=4)] == [4, 5, 6]
        assert [e.stream_version for e in store.read(stream, to_version=2)] == [1, 2]
        assert [e.stream_version for e in store.read(stream, from_version=2, to_version=3)] == [
            2,
            3,
        ]
        everything = store.read(stream)
        cut = everything[2].occurred_at
        assert [e.stream_version for e in store.read(stream, until=cut)] == [1, 2, 3]
        assert store.read(stream, until=everything[0].occurred_at - timedelta(seconds=1)) == []
        assert store.read(sid()) == []
        assert store.version(sid()) == 0

    def test_claimed_value_is_unique_across_streams_until_released(self, store: EventStore) -> None:
        email = f"{uuid.uuid4()}@example.com"
        first, second = sid(), sid()
        store.append(
            first, STREAM_TYPE, [opened()], expected_version=0, reservations=[Claim("email", email)]
        )
        assert store.reservation_holder("email", email) == first
        with pytest.raises(UniquenessError) as info:
            store.append(
                second,
                STREAM_TYPE,
                [opened()],
                expected_version=0,
                reservations=[Claim("email", email)],
            )
        assert info.value.holder == first and info.value.value == email
        assert store.version(second) == 0, "the failed claim must roll the append back"
        # Claiming again from the holder is a no-op; the same value in another scope is free.
        store.append(
            first,
            STREAM_TYPE,
            [Renamed(owner="A")],
            expected_version=1,
            reservations=[Claim("email", email)],
        )
        store.append(
            second, STREAM_TYPE, [opened()], expected_version=0, reservations=[Claim("sku", email)]
        )
        # A release by another stream frees nothing; the holder's release frees the value.
        store.append(
            second,
            STREAM_TYPE,
            [Renamed(owner="B")],
            expected_version=1,
            reservations=[Release("email", email)],
        )
        assert store.reservation_holder("email", email) == first
        store.append(
            first,
            STREAM_TYPE,
            [Renamed(owner="C")],
            expected_version=2,
            reservations=[Release("email", email)],
        )
        assert store.reservation_holder("email", email) is None
        store.append(
            second,
            STREAM_TYPE,
            [Renamed(owner="D")],
            expected_version=2,
            reservations=[Claim("email", email)],
        )
        assert store.reservation_holder("email", email) == second

    def test_a_concurrency_error_also_rolls_back_the_claim(self, store: EventStore) -> None:
        stream, email = sid(), f"{uuid.uuid4()}@example.com"
        store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
        with pytest.raises(ConcurrencyError):
            store.append(
                stream,
                STREAM_TYPE,
                [Renamed(owner="X")],
                expected_version=0,
                reservations=[Claim("email", email)],
            )
        assert store.reservation_holder("email", email) is None

    @staticmethod
    def snapshotted(store: EventStore) -> tuple[str, Snapshotted]:
        """A stream of two events appended with its snapshot."""
        stream = sid()
        snap = Snapshotted(stream, STREAM_TYPE, 2, 1, {"owner": "Ada", "balance": "3.50"})
        store.append(
            stream,
            STREAM_TYPE,
            [opened(), Deposited(amount=Decimal("3.50"))],
            expected_version=0,
            snapshot=snap,
        )
        return stream, snap

    def test_snapshot_is_stored_with_the_append_and_loaded(self, store: EventStore) -> None:
        stream, snap = self.snapshotted(store)
        assert store.load_snapshot(stream) == snap
        assert store.load_snapshot(sid()) is None

    def test_a_stream_loads_as_its_snapshot_and_the_events_after_it(
        self, store: EventStore
    ) -> None:
        (stream, snap), plain = self.snapshotted(store), sid()
        assert store.load_stream(stream) == (snap, [])
        store.append(stream, STREAM_TYPE, [Deposited(amount=Decimal(1))] * 3, expected_version=2)
        snapshot, tail = store.load_stream(stream)
        assert snapshot == snap and [e.stream_version for e in tail] == [3, 4, 5]
        assert tail == store.read(stream, from_version=3)
        store.append(plain, STREAM_TYPE, [opened()], expected_version=0)
        assert store.load_stream(plain) == (None, store.read(plain))
        assert store.load_stream(sid()) == (None, [])

    def test_idempotent_command_runs_once_and_repeats_return_the_first_outcome(
        self, store: EventStore
    ) -> None:
        key, calls = f"key-{uuid.uuid4()}", []

        def run() -> dict[str, int]:
            calls.append(1)
            result = store.append(sid(), STREAM_TYPE, [opened()], expected_version=0)
            return {"version": result.version, "n": len(calls)}

        first = store.run_idempotent(key, "fp", run, encode=_same, decode=_same)
        again = store.run_idempotent(key, "fp", run, encode=_same, decode=_same)
        assert first == ({"version": 1, "n": 1}, False)
        assert again == ({"version": 1, "n": 1}, True)
        assert len(calls) == 1
        with pytest.raises(IdempotencyConflict):  # another command (its print sorts first)
            store.run_idempotent(key, "another-fp", run, encode=_same, decode=_same)
        assert len(calls) == 1
        other = f"key-{uuid.uuid4()}"
        store.run_idempotent(other, "a-fp", run, encode=_same, decode=_same)
        with pytest.raises(IdempotencyConflict):  # (and one whose print sorts after)
            store.run_idempotent(other, "b-fp", run, encode=_same, decode=_same)
        assert len(calls) == 2

    def test_a_failed_idempotent_command_can_be_retried(self, store: EventStore) -> None:
        key, stream = f"key-{uuid.uuid4()}", sid()
        store.append(stream, STREAM_TYPE, [opened()], expected_version=0)

        def bad() -> int:
            store.append(stream, STREAM_TYPE, [Withdrawn(amount=Decimal(1))], expected_version=0)
            return 1

        with pytest.raises(ConcurrencyError):
            store.run_idempotent(key, "fp", bad, encode=int, decode=int)
        value, replayed = store.run_idempotent(key, "fp", lambda: 7, encode=int, decode=int)
        assert (value, replayed) == (7, False)


class RecordingProjection:
    def __init__(self, fail_on: str | None = None) -> None:
        self.seen: list[EventEnvelope] = []
        self.fail_on = fail_on

    def __call__(self, envelopes: Sequence[EventEnvelope]) -> None:
        for e in envelopes:
            if e.event_type == self.fail_on:
                raise RuntimeError("projection failed")
            self.seen.append(e)


class InlineProjectionContract:
    """Needs a `store_factory(inline_projections) -> EventStore` fixture."""

    def test_inline_projection_sees_the_stored_events_inside_the_append(
        self, store_factory: Callable[[list[RecordingProjection]], EventStore]
    ) -> None:
        projection = RecordingProjection()
        store = store_factory([projection])
        stream = sid()
        store.append(
            stream, STREAM_TYPE, [opened(), Deposited(amount=Decimal(2))], expected_version=0
        )
        assert projection.seen == store.read(stream)
        assert all(e.position is not None for e in projection.seen)

    def test_a_failing_inline_projection_rolls_the_append_back(
        self, store_factory: Callable[[list[RecordingProjection]], EventStore]
    ) -> None:
        store = store_factory([RecordingProjection(fail_on="tests.Deposited")])
        stream = sid()
        store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
        with pytest.raises(RuntimeError):
            store.append(stream, STREAM_TYPE, [Deposited(amount=Decimal(2))], expected_version=1)
        assert store.version(stream) == 1
