"""The projection engine against real Kafka, Postgres, Redis, RabbitMQ and worker processes."""

from __future__ import annotations

import signal
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pytest

from projections import registry
from projections.status import partitions
from projections.tasks import catch_up_partition, wake
from tests.support.engine import (
    PG,
    REDIS,
    catch_up_all_partitions,
    dump,
    lag,
    publish,
    start_follower,
    start_worker,
)
from tests.support.pg import wait_for

TOTALS = "tests.ledger_totals"
MAIL = "tests.deposit_mail"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("name", [PG, REDIS])
def test_the_same_catch_up_delivered_twice_changes_nothing_the_second_time(name: str) -> None:
    """A task redelivered while the first delivery runs: both read the checkpoint before either
    applied. The second's batches start from that stale checkpoint and must be refused by the
    fence (the checkpoint moved), not re-applied."""
    from projections.runner import catch_up
    from projections.targets import target_for

    prefix = f"twice-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=12, deposits=9, amount=Decimal("2.50"))
    projection = registry.get(name)
    parts = [(t, p) for t in registry.topics_of(projection) for p in partitions(t)]
    first_run, second_run = target_for(projection), target_for(projection)
    read_before = {part: first_run.next_offset(*part) for part in parts}
    events = registry.event_registry()
    for part in parts:
        catch_up(projection, first_run, *part, registry=events)
    first = dump(name, prefix)
    moved = [part for part in parts if first_run.next_offset(*part) > read_before[part]]
    assert moved

    real, seen = second_run.next_offset, set()

    def read_before_the_first_applied(topic: str, partition: int) -> int:
        if (topic, partition) in seen:
            return real(topic, partition)
        seen.add((topic, partition))
        return read_before[(topic, partition)]

    second_run.next_offset = read_before_the_first_applied  # type: ignore[method-assign]
    refused = {part: catch_up(projection, second_run, *part, registry=events) for part in parts}
    assert dump(name, prefix) == first
    assert all(refused[part].conflicts == 1 and refused[part].applied == 0 for part in moved)
    assert lag(name) == 0
    if name == PG:
        assert len(first) == 12
        assert all(row[2] == "22.50" and row[3] == list(range(1, 11)) for row in first)
    else:
        assert set(first["cents"].values()) == {2250}
        assert all(first[k] == list(range(1, 11)) for k in first if ":versions:" in k)


@pytest.mark.parametrize("name", [PG, TOTALS, REDIS])
def test_a_stale_runner_cannot_apply_a_batch_twice(name: str) -> None:
    """Two runners at the same checkpoint: only the first moves it; the second applies nothing.
    Through each way of applying: a Postgres transaction, a pipelined one (the checkpoint's
    move raises, aborting the rest) and a Redis script."""
    from projections import log
    from projections.runner import CatchUp, apply_batch
    from projections.targets import target_for

    prefix = f"stale-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=6, deposits=3)
    projection = registry.get(name)
    target = target_for(projection)
    topic = registry.topics_of(projection)[0]
    batches = 0
    for partition in partitions(topic):
        start = target.next_offset(topic, partition)
        messages = log.read(topic, partition, start, 1000)
        if not messages:
            continue
        assert apply_batch(
            projection, target, topic, partition, messages, registry.event_registry(), CatchUp()
        )
        applied = read_model(name, prefix)
        assert not apply_batch(
            projection, target, topic, partition, messages, registry.event_registry(), CatchUp()
        )
        assert read_model(name, prefix) == applied
        assert target.next_offset(topic, partition) == (messages[-1].offset() or 0) + 1
        batches += 1
    assert batches > 0
    if name == PG:
        assert all(row[3] == [1, 2, 3, 4] for row in dump(PG, prefix))
    elif name == TOTALS:
        assert read_model(name, prefix) == [[f"{prefix}-{i}", "3", 4] for i in range(6)]
    else:
        assert all(v == [1, 2, 3, 4] for k, v in dump(REDIS, prefix).items() if ":versions:" in k)


def read_model(name: str, prefix: str) -> Any:
    if name != TOTALS:
        return dump(name, prefix)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT stream_id, total::text, events FROM test_ledger_total "
            "WHERE stream_id LIKE %s ORDER BY stream_id",
            [f"{prefix}-%"],
        )
        return [list(row) for row in cur.fetchall()]


def test_a_failing_redis_command_fails_the_batch_as_multi_exec_did() -> None:
    """The Redis script runs every command of the batch and moves the checkpoint even if one
    of them fails (as MULTI/EXEC did: Redis rolls nothing back, and stopping half-way would
    leave half a batch to be applied again), then raises the command's error."""
    import redis
    from django_redis import get_redis_connection

    from projections.targets import RedisTarget, redis_namespace

    class Clumsy(registry.get(REDIS).__class__):  # type: ignore[misc]
        def apply_many(self, pipe: Any, envelopes: Any) -> None:
            pipe.incr(self.key("before"))
            pipe.hincrby(self.key("before"), "field", 1)  # WRONGTYPE: the key is a string
            pipe.incr(self.key("after"))

    client = get_redis_connection("default")
    name = f"clumsy-{uuid.uuid4().hex[:8]}"
    clumsy = Clumsy(redis_namespace(name))
    target = RedisTarget(clumsy, checkpoint_name=name)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        target.apply("t", 0, [], expected_offset=0, next_offset=1)
    assert target.next_offset("t", 0) == 1
    assert client.get(clumsy.key("before")) == b"1" and client.get(clumsy.key("after")) == b"1"
    assert not target.apply("t", 0, [], expected_offset=0, next_offset=1)
    assert client.get(clumsy.key("after")) == b"1"
    client.delete(clumsy.key("before"), clumsy.key("after"), target.checkpoint_key("t", 0))


@pytest.mark.parametrize("with_follower", [False, True], ids=["tasks", "follower"])
def test_two_worker_processes_keep_per_stream_order(tmp_path: Path, with_follower: bool) -> None:
    """With two followers too (they share the partitions, take them and hand them back as the
    tasks let go of them and take them again)."""
    prefix = f"order-{uuid.uuid4().hex[:8]}"
    workers = [start_worker(tmp_path / f"worker{i}.log", "-c", "2") for i in range(2)]
    if with_follower:
        workers += [start_follower(tmp_path / f"follower{i}.log") for i in range(2)]
    try:
        for round_ in range(5):
            publish(f"{prefix}-r{round_}", streams=10, deposits=20)
            for name in (PG, REDIS):
                topic = registry.topics_of(registry.get(name))[0]
                for partition in partitions(topic):
                    wake(name, topic, partition)
                    catch_up_partition.delay(name, topic, partition)  # duplicates on purpose
        wait_for("both projections to catch up", lambda: lag(PG) == 0 and lag(REDIS) == 0, 120)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
    rows = dump(PG, prefix)
    assert len(rows) == 50
    assert all(row[3] == list(range(1, 22)) for row in rows), "gap, repeat or inversion"
    redis_dump = dump(REDIS, prefix)
    versions = [v for k, v in redis_dump.items() if ":versions:" in k]
    assert len(versions) == 50 and all(v == list(range(1, 22)) for v in versions)


def test_a_long_catch_up_works_in_slices_and_requeues_itself(
    settings: Any,
) -> None:
    """One projection's backlog must not hold a worker: a task stops after its slice and
    re-enqueues itself behind other work."""
    from django_redis import get_redis_connection

    from projections.targets import target_for
    from projections.tasks import pending_key
    from tests.support.engine import kafka_end

    settings.PROJECTIONS_TASK_SLICE = 0.0
    settings.PROJECTIONS_BATCH_SIZE = 10
    prefix = f"slice-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=1, deposits=59)  # one stream: one partition, 60 events
    projection = registry.get(PG)
    target = target_for(projection)
    topic = registry.topics_of(projection)[0]
    partition = next(
        p for p in partitions(topic) if target.next_offset(topic, p) < kafka_end(topic, p)
    )
    start = target.next_offset(topic, partition)
    catch_up_partition(PG, topic, partition)
    assert target.next_offset(topic, partition) == start + 10, "one batch, then it yields"
    assert get_redis_connection("default").exists(pending_key(PG, topic, partition)), (
        "it must have re-enqueued itself"
    )
    while target.next_offset(topic, partition) < kafka_end(topic, partition):
        catch_up_partition(PG, topic, partition)
    assert dump(PG, prefix)[0][3] == list(range(1, 61))


def test_the_safety_net_wakes_a_lagging_partition_even_if_a_queued_task_was_lost(
    tmp_path: Path,
) -> None:
    """A 'queued' flag whose task message was lost must not stop the periodic catch-up."""
    from django_redis import get_redis_connection

    from projections.tasks import catch_up_all, pending_key

    prefix = f"lost-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=6, deposits=2)
    topic = registry.topics_of(registry.get(PG))[0]
    client = get_redis_connection("default")
    for partition in partitions(topic):  # as if tasks were queued, then their messages lost
        client.set(pending_key(PG, topic, partition), 1, ex=300)
    worker = start_worker(tmp_path / "worker.log")
    try:
        assert catch_up_all() > 0
        wait_for("the safety net to catch up", lambda: lag(PG) == 0, 60)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert len(dump(PG, prefix)) == 6


@pytest.mark.parametrize("server_binding", [False, True])
def test_a_pipelined_projection_applies_the_same_and_still_isolates_a_poison_event(
    server_binding: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipeline mode sends a batch's statements without waiting; a SQL error then surfaces only
    at the end of the batch, and the event must still be found and parked, alone. The same
    with handlers on a server-binding psycopg cursor."""
    from django.db import connection

    from projections.models import DeadLetter
    from tests.support.engine import fast_forward, relay
    from tests.support.ledger import STREAM_TYPE, Deposited
    from tests.support.pg import pg_store
    from tests.support.projections import POISON_AMOUNT, LedgerTotals

    monkeypatch.setattr(LedgerTotals, "server_binding", server_binding)

    totals = TOTALS
    fast_forward(totals)
    prefix = f"pipe-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=8, deposits=5, amount=Decimal(2))
    pg_store().append(
        f"{prefix}-0", STREAM_TYPE, [Deposited(amount=POISON_AMOUNT)], expected_version=6
    )
    relay()
    catch_up_all_partitions(totals)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT stream_id, total::text, events FROM test_ledger_total "
            "WHERE stream_id LIKE %s ORDER BY stream_id",
            [f"{prefix}-%"],
        )
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    assert len(rows) == 8
    # Client-side binding sends the literal `2 / 1` (integer division), server-side binding a
    # numeric 2 (numeric division, so the scale shows which cursor ran): the same amount.
    scale = "10.00000000000000000000" if server_binding else "10"
    assert all(v == (scale, 6) for v in rows.values()), rows
    letters = list(DeadLetter.objects.filter(projection=totals))
    assert [(d.stream_id, d.status) for d in letters] == [(f"{prefix}-0", "parked")]
    assert "division by zero" in letters[0].error


@pytest.mark.parametrize("name", [PG, TOTALS, MAIL])
def test_read_models_commit_without_waiting_for_the_disk_and_side_effects_wait(name: str) -> None:
    """A read model's batch commits with synchronous_commit off (a crash loses whole batches,
    which are applied again); a side effect's jobs are sent to their tasks, so their
    transaction waits for the disk as usual."""
    from django.db import connection

    from projections.targets import target_for

    statements: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    consumer = registry.consumer(name)
    target = target_for(consumer)
    topic = registry.topics_of(consumer)[0]
    offset = target.next_offset(topic, 0)
    # (A pipelined read model sends its transaction's statements on the psycopg connection.)
    raw_execute = psycopg.Connection.execute

    def raw_spy(conn: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return raw_execute(conn, sql, *args, **kwargs)

    with (
        connection.execute_wrapper(spy),
        mock.patch.object(psycopg.Connection, "execute", raw_spy),
    ):
        assert target.apply(topic, 0, [], expected_offset=offset, next_offset=offset)
    asynchronous = "SET LOCAL synchronous_commit TO off" in statements
    assert asynchronous == (name != MAIL), statements


def test_a_wake_up_enqueues_only_where_nothing_is_queued_or_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One script sets the flags of every pair it wakes (SET NX): a pair with a task queued or
    a follower's flag enqueues nothing and keeps its flag; `force` enqueues regardless."""
    from django_redis import get_redis_connection

    from projections import wakeups

    client = get_redis_connection("default")
    run = uuid.uuid4().hex[:8]
    free, queued, followed = [(f"tests.wake-{run}-{i}", "t", 0) for i in range(3)]
    client.set(wakeups.pending_key(*queued), 1, ex=300)
    wakeups.hold([followed])
    enqueued: list[list[object]] = []
    monkeypatch.setattr(wakeups, "send_tasks", lambda tasks: enqueued.extend(t.args for t in tasks))
    try:
        wakeups.wake_many([free, queued, followed])
        assert enqueued == [list(free)]
        assert client.get(wakeups.pending_key(*free)) == b"1"
        assert 0 < client.ttl(wakeups.pending_key(*free)) <= wakeups.QUEUED_FLAG_TTL
        assert client.ttl(wakeups.pending_key(*queued)) > wakeups.QUEUED_FLAG_TTL  # untouched
        assert client.get(wakeups.pending_key(*followed)) == wakeups.FOLLOWED.encode()
        wakeups.wake_many([free, queued, followed])  # all flagged now
        assert enqueued == [list(free)]
        wakeups.wake_many([free, followed], force=True)
        assert enqueued == [list(free), list(free), list(followed)]
        wakeups.wake_many([])
    finally:
        client.delete(*[wakeups.pending_key(*pair) for pair in (free, queued, followed)])
