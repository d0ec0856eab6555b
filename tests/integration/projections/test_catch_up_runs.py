"""What one catch-up of a partition reports and does, in-process: up to the end it is given or
the partition's, batch after batch, a poison event parked, and a runner that lost the
checkpoint to another applying nothing."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from projections import log, registry
from projections.models import DeadLetter
from projections.runner import CatchUp, catch_up
from projections.status import partitions
from projections.targets import Target, target_for
from tests.support.engine import PG, dump, publish, relay
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import pg_store
from tests.support.projections import POISON_AMOUNT

pytestmark = pytest.mark.django_db(transaction=True)


def projection() -> Any:
    return registry.get(PG)


def topic() -> str:
    return registry.topics_of(projection())[0]


def run(target: Target, partition: int, **options: Any) -> CatchUp:
    return catch_up(
        projection(), target, topic(), partition, registry=registry.event_registry(), **options
    )


def one_stream(prefix: str, deposits: int) -> tuple[int, int]:
    """A ledger with `deposits` deposits, relayed: (its partition, the offset it starts at)."""
    target = target_for(projection())
    starts = {p: target.next_offset(topic(), p) for p in partitions(topic())}
    publish(prefix, streams=1, deposits=deposits)
    for p, start in starts.items():
        if log.read(topic(), p, start, 1):
            return p, start
    raise AssertionError("the stream was not published")


def test_a_catch_up_stops_at_the_end_it_is_given() -> None:
    partition, start = one_stream(f"end-{uuid.uuid4().hex[:8]}", deposits=5)  # 6 events
    target = target_for(projection())
    assert run(target, partition, end=start + 2) == CatchUp(
        applied=2, next_offset=start + 2, reached_end=True
    )
    assert run(target, partition, end=start + 2) == CatchUp(
        applied=0, next_offset=start + 2, reached_end=True
    )
    assert run(target, partition, end=start + 6, batch_size=3) == CatchUp(
        applied=4, next_offset=start + 6, reached_end=True
    )
    assert run(target, partition, end=start + 3) == CatchUp(  # an end it has passed
        applied=0, next_offset=start + 6, reached_end=True
    )


@pytest.mark.parametrize("past", [0, 3])
def test_a_runner_behind_the_checkpoint_stops_at_its_end_when_the_checkpoint_is_there(
    past: int,
) -> None:
    """Its end reached by another runner (exactly, or passed): it applies nothing."""
    partition, start = one_stream(f"endstale-{uuid.uuid4().hex[:8]}", deposits=5)
    run(target_for(projection()), partition)
    behind = target_for(projection())
    stale_once(behind, start)
    assert run(behind, partition, end=start + 6 - past) == CatchUp(
        applied=0, conflicts=1, next_offset=start + 6, reached_end=True
    )


def test_a_catch_up_without_an_end_reads_batch_after_batch_to_the_partitions_end() -> None:
    partition, start = one_stream(f"all-{uuid.uuid4().hex[:8]}", deposits=5)
    target = target_for(projection())
    assert run(target, partition, batch_size=4) == CatchUp(
        applied=6, next_offset=start + 6, reached_end=True
    )


def test_a_catch_up_out_of_time_stops_after_the_batch_it_applied() -> None:
    partition, start = one_stream(f"slice-{uuid.uuid4().hex[:8]}", deposits=5)
    target = target_for(projection())
    assert run(target, partition, batch_size=2, max_seconds=0) == CatchUp(
        applied=2, next_offset=start + 2, reached_end=False
    )


def two_streams_in_one_partition(prefix: str) -> tuple[int, str, str]:
    """Ledgers with one deposit each, relayed and applied, until two share a partition."""
    target = target_for(projection())
    starts = {p: target.next_offset(topic(), p) for p in partitions(topic())}
    publish(prefix, streams=len(starts) + 1, deposits=1)
    streams: dict[int, list[str]] = defaultdict(list)
    for p, start in starts.items():
        for message in log.read(topic(), p, start, 1000):
            key = (message.key() or b"").decode()
            if key not in streams[p]:
                streams[p].append(key)
        run(target, p)
    partition = next(p for p, keys in streams.items() if len(keys) >= 2)
    return partition, streams[partition][0], streams[partition][1]


def stale_once(target: Target, offset: int) -> None:
    real, calls = target.next_offset, []

    def next_offset(topic: str, partition: int) -> int:
        calls.append(partition)
        return offset if len(calls) == 1 else real(topic, partition)

    target.next_offset = next_offset  # type: ignore[method-assign]


@pytest.mark.parametrize("first", ["healthy", "poisoned"])
def test_a_poison_event_is_parked_and_a_runner_behind_the_checkpoint_applies_nothing(
    first: str,
) -> None:
    """The stale runner takes the events one by one (a parked stream is among them): the first
    one (a healthy stream's, or the parked one's, to be recorded as blocked) finds the
    checkpoint moved, and it stops there."""
    prefix = f"stale-{uuid.uuid4().hex[:8]}"
    partition, sick, fine = two_streams_in_one_partition(prefix)
    target = target_for(projection())
    stale = target.next_offset(topic(), partition)
    store = pg_store()
    poison = (sick, [Deposited(amount=POISON_AMOUNT)], 2)
    behind_it = (sick, [Deposited(amount=Decimal(1))], 3)  # waits behind the poison
    healthy = (fine, [Deposited(amount=Decimal(3))], 2)
    order = (healthy, poison, behind_it) if first == "healthy" else (poison, behind_it, healthy)
    for stream, events, version in order:
        store.append(stream, STREAM_TYPE, events, expected_version=version)
    relay()
    assert run(target, partition) == CatchUp(
        applied=1, dead_lettered=2, next_offset=stale + 3, reached_end=True
    )
    letters = DeadLetter.objects.filter(projection=PG).order_by("offset")
    assert [(d.stream_id, d.status) for d in letters] == [(sick, "parked"), (sick, "blocked")]
    before = dump(PG, prefix)

    behind = target_for(projection())
    stale_once(behind, stale)
    assert run(behind, partition) == CatchUp(
        applied=0, conflicts=1, next_offset=stale + 3, reached_end=True
    )
    assert dump(PG, prefix) == before
    assert DeadLetter.objects.filter(projection=PG).count() == 2


def test_an_event_that_fails_twice_is_retried_not_parked(monkeypatch: pytest.MonkeyPatch) -> None:
    """In its batch, then alone once: the next attempt (of PROJECTIONS_MAX_ATTEMPTS) works."""
    prefix = f"flaky-{uuid.uuid4().hex[:8]}"
    partition, start = one_stream(prefix, deposits=0)
    pg_store().append(
        f"{prefix}-0", STREAM_TYPE, [Deposited(amount=POISON_AMOUNT)], expected_version=1
    )
    relay()
    calls: list[int] = []

    def fixed_the_third_time() -> bool:
        calls.append(1)
        return len(calls) > 2

    monkeypatch.setattr("tests.support.projections.poison_fixed", fixed_the_third_time)
    assert run(target_for(projection()), partition) == CatchUp(
        applied=2, next_offset=start + 2, reached_end=True
    )
    assert len(calls) == 3
    assert not DeadLetter.objects.filter(projection=PG).exists()
