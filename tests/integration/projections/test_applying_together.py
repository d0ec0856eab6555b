"""The follower's batch, applied by the read models of its partition together: the pipelined
ones in Postgres in one transaction, those in Redis in one script, each moving its own
checkpoint only from where it was; and when the group cannot (a checkpoint moved, a handler
failed), each part alone, so that only the one at fault is handed back."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django_redis import get_redis_connection

from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, RedisProjection, handles
from eventstore.serialization import decode_envelope
from projections import log as kafka_log
from projections import registry
from projections.following import Outcome, Owned, Pair, apply_parts
from projections.status import partitions
from projections.targets import PostgresTarget, RedisTarget, Target, target_for
from tests.support.engine import REDIS, kafka_end, relay
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import pg_store
from tests.support.projections import POISON_AMOUNT
from tests.support.store_contract import opened

pytestmark = pytest.mark.django_db(transaction=True)

TOTALS = "tests.ledger_totals"  # pipelined, in Postgres; a deposit of 666 fails in SQL


class Counts(PostgresProjection):
    """A second pipelined read model of the ledger: events per stream."""

    name = "tests.ledger_counts"
    topics = ("accounts",)
    tables = ("test_ledger_count",)
    pipelined = True

    def setup(self, cur: Any) -> None:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS test_ledger_count (stream_id text PRIMARY KEY, "
            "events integer NOT NULL)"
        )

    @handles(Deposited)
    def _counted(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "INSERT INTO test_ledger_count VALUES (%s, 1) ON CONFLICT (stream_id) DO UPDATE "
            "SET events = test_ledger_count.events + 1",
            [e.stream_id],
        )


class RedisCounts(RedisProjection):
    """A second Redis read model of the ledger: deposits per stream."""

    name = "tests.ledger_redis_counts"
    topics = ("accounts",)

    @handles(Deposited)
    def _counted(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.hincrby(self.key("deposits"), e.stream_id, 1)


def _batch(amount: Decimal = Decimal(1)) -> tuple[str, int, list[Any], str]:
    """Two ledgers of one partition, opened with two deposits each, relayed: (topic, partition,
    their messages, the streams' prefix)."""
    prefix = f"together-{uuid.uuid4().hex[:8]}"
    topic = registry.topics_of(registry.consumer(TOTALS))[0]
    store = pg_store()
    for s in range(2):
        stream = f"{prefix}-{s}"
        store.append(stream, STREAM_TYPE, [opened(), Deposited(amount=amount)], expected_version=0)
        store.append(stream, STREAM_TYPE, [Deposited(amount=Decimal(1))], expected_version=2)
    before = {p: kafka_end(topic, p) for p in partitions(topic)}
    relay()
    grown = [p for p, end in before.items() if kafka_end(topic, p) > end]
    partition = grown[0]
    messages = kafka_log.read(topic, partition, before[partition], 1000)
    return topic, partition, messages, prefix


def _batches(streams: int) -> tuple[str, dict[tuple[str, int], list[Any]], str]:
    """`streams` ledgers, opened with two deposits each, relayed: (topic, the messages of every
    partition they landed in, the streams' prefix)."""
    prefix = f"together-{uuid.uuid4().hex[:8]}"
    topic = registry.topics_of(registry.consumer(TOTALS))[0]
    store = pg_store()
    for s in range(streams):
        stream = f"{prefix}-{s}"
        events = [opened(), Deposited(amount=Decimal(1)), Deposited(amount=Decimal(1))]
        store.append(stream, STREAM_TYPE, events, expected_version=0)
    before = {p: kafka_end(topic, p) for p in partitions(topic)}
    relay()
    return (
        topic,
        {
            (topic, p): kafka_log.read(topic, p, start, 1000)
            for p, start in before.items()
            if kafka_end(topic, p) > start
        },
        prefix,
    )


def _owned(target: Target, topic: str, partition: int, at: int) -> Owned:
    """`target` with its checkpoint moved to `at` (its owner read it there)."""
    if isinstance(target, PostgresTarget):
        target.setup()
    assert target.apply(
        topic, partition, [], expected_offset=target.next_offset(topic, partition), next_offset=at
    )
    return Owned(target.projection, target, at)


def _parts(topic: str, partition: int, at: int) -> list[tuple[Pair, Owned]]:
    targets: list[Target] = [
        target_for(registry.consumer(TOTALS)),
        PostgresTarget(Counts()),
        target_for(registry.consumer(REDIS)),
        RedisTarget(RedisCounts()),
    ]
    return [
        ((t.checkpoint_name, topic, partition), _owned(t, topic, partition, at)) for t in targets
    ]


def _events(table: str, prefix: str) -> dict[str, int]:
    """Events per stream of the test's streams, as a Postgres read model's `table` counted them."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT stream_id, events FROM {table} WHERE stream_id LIKE %s", [f"{prefix}-%"]
        )
        return dict(cur.fetchall())


def _totals(prefix: str) -> dict[str, int]:
    return _events("test_ledger_total", prefix)


def _counts(prefix: str) -> dict[str, int]:
    return _events("test_ledger_count", prefix)


def _redis_counts(prefix: str) -> dict[str, int]:
    found = get_redis_connection("default").hgetall(RedisCounts().key("deposits"))
    return {k.decode(): int(v) for k, v in found.items() if k.decode().startswith(prefix)}


def _forbid_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def alone(*_args: Any, **_kwargs: Any) -> bool:
        raise AssertionError("a part was applied alone")

    monkeypatch.setattr(PostgresTarget, "apply", alone)
    monkeypatch.setattr(RedisTarget, "apply", alone)


def test_the_read_models_of_a_partition_apply_a_batch_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic, partition, messages, prefix = _batch()
    start = messages[0].offset()
    parts = _parts(topic, partition, start)
    _forbid_alone(monkeypatch)  # from here on, only the groups may write

    outcomes = apply_parts(parts, {(topic, partition): messages}, registry.event_registry())

    end = messages[-1].offset() + 1
    assert {pair[0]: o[:2] for pair, o in outcomes.items()} == {
        pair[0]: (Outcome.APPLIED, end) for pair, _ in parts
    }
    mine = [m for m in messages if (m.key() or b"").decode().startswith(prefix)]
    streams = {m.key().decode() for m in mine}
    assert _totals(prefix) == dict.fromkeys(streams, 3)
    assert _counts(prefix) == dict.fromkeys(streams, 2)
    assert _redis_counts(prefix) == dict.fromkeys(streams, 2)
    for pair, owned in parts:
        assert owned.target.next_offset(topic, partition) == end, pair


def test_the_read_models_apply_every_partition_of_a_poll_together(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What one poll brought from several partitions: one Postgres transaction and one Redis
    script for all of it, each part moving its own partition's checkpoint, and one log line
    for each (naming its read models and carrying every event's correlation id)."""
    from projections.targets import postgres_target, redis_target

    topic, batches, prefix = _batches(streams=8)
    assert len(batches) >= 2, "the streams all landed in one partition"
    parts = [
        part
        for (_topic, partition), messages in batches.items()
        for part in _parts(topic, partition, messages[0].offset())
    ]
    _forbid_alone(monkeypatch)
    calls: list[str] = []
    for module, kind in ((postgres_target, "postgres"), (redis_target, "redis")):
        together = module.apply_together

        def counted(*args: Any, _together: Any = together, _kind: str = kind) -> Any:
            calls.append(_kind)
            return _together(*args)

        monkeypatch.setattr(module, "apply_together", counted)

    with caplog.at_level(logging.INFO, logger="projections"):
        outcomes = apply_parts(parts, batches, registry.event_registry())

    assert sorted(calls) == ["postgres", "redis"]
    lines = [r for r in caplog.records if "applied" in r.getMessage()]
    assert sorted(frozenset(r.projections) for r in lines) == sorted(  # type: ignore[attr-defined]
        [frozenset({TOTALS, Counts.name}), frozenset({REDIS, RedisCounts.name})]
    )
    mine = {
        str(env.correlation_id or env.event_id)
        for messages in batches.values()
        for m in messages
        for env in [decode_envelope(registry.event_registry(), m.value())]
    }
    for line in lines:
        assert set(line.correlation_ids) <= mine, line.getMessage()  # type: ignore[attr-defined]
        assert line.correlation_ids, line.getMessage()  # type: ignore[attr-defined]
    for pair, owned in parts:
        end = batches[pair[1:]][-1].offset() + 1
        assert outcomes[pair][:2] == (Outcome.APPLIED, end), pair
        assert owned.target.next_offset(topic, pair[2]) == end, pair
    streams = {f"{prefix}-{s}" for s in range(8)}
    assert _totals(prefix) == dict.fromkeys(streams, 3)
    assert _counts(prefix) == dict.fromkeys(streams, 2)
    assert _redis_counts(prefix) == dict.fromkeys(streams, 2)


def test_a_moved_checkpoint_sends_each_part_alone_and_only_that_one_is_refused() -> None:
    topic, partition, messages, prefix = _batch()
    start = messages[0].offset()
    parts = _parts(topic, partition, start)
    end = messages[-1].offset() + 1
    # Someone else applied the Counts and the RedisCounts parts meanwhile.
    for _pair, owned in (parts[1], parts[3]):
        assert owned.target.apply(topic, partition, [], expected_offset=start, next_offset=end)

    outcomes = apply_parts(parts, {(topic, partition): messages}, registry.event_registry())

    assert {pair[0]: o[0] for pair, o in outcomes.items()} == {
        TOTALS: Outcome.APPLIED,
        Counts.name: Outcome.MOVED,
        REDIS: Outcome.APPLIED,
        RedisCounts.name: Outcome.MOVED,
    }
    assert set(_totals(prefix).values()) == {3}  # applied once, not twice
    assert _counts(prefix) == {} and _redis_counts(prefix) == {}  # nothing from this batch


def test_a_failing_handler_sends_each_part_alone_and_only_its_read_model_fails() -> None:
    topic, partition, messages, prefix = _batch(POISON_AMOUNT)  # Totals divides by zero
    start = messages[0].offset()
    parts = _parts(topic, partition, start)
    end = messages[-1].offset() + 1

    outcomes = apply_parts(parts, {(topic, partition): messages}, registry.event_registry())

    assert {pair[0]: o[0] for pair, o in outcomes.items()} == {
        TOTALS: Outcome.FAILED,
        Counts.name: Outcome.APPLIED,
        REDIS: Outcome.APPLIED,
        RedisCounts.name: Outcome.APPLIED,
    }
    assert _totals(prefix) == {}
    assert parts[0][1].target.next_offset(topic, partition) == start  # for a task to isolate
    assert set(_counts(prefix).values()) == {2}
    assert parts[1][1].target.next_offset(topic, partition) == end


def test_a_failing_redis_command_fails_its_read_model_only() -> None:
    topic, partition, messages, prefix = _batch()
    start = messages[0].offset()
    parts = _parts(topic, partition, start)
    client = get_redis_connection("default")
    client.set(RedisCounts().key("deposits"), "not a hash")  # HINCRBY: WRONGTYPE
    try:
        outcomes = apply_parts(parts, {(topic, partition): messages}, registry.event_registry())
    finally:
        client.delete(RedisCounts().key("deposits"))

    assert {pair[0]: o[0] for pair, o in outcomes.items()} == {
        TOTALS: Outcome.APPLIED,
        Counts.name: Outcome.APPLIED,
        REDIS: Outcome.APPLIED,
        RedisCounts.name: Outcome.FAILED,
    }
    streams = {m.key().decode() for m in messages if m.key().decode().startswith(prefix)}
    assert set(_totals(prefix)) == streams


@pytest.mark.parametrize("repeat", range(2))
def test_deleting_checkpoints_never_deadlocks_with_a_follower_moving_several(repeat: int) -> None:
    """A follower's transaction moves a read model's checkpoints of several partitions in pair
    order; a rebuild's start deletes them all meanwhile. The rows lie in the table in the other
    order (partition 1 first): a DELETE taking them in that order (a sequential scan) holds 1
    while it waits for 0, which the follower holds while it waits for 1."""
    import threading

    import psycopg

    from eventstore.runtime import postgres_dsn
    from projections.targets import postgres_target

    name, topic = f"tests.order-{uuid.uuid4().hex[:8]}", "t"
    with connection.cursor() as cur:
        for partition in (1, 0):  # heap order: 1, then 0
            cur.execute(
                "INSERT INTO proj_checkpoint (projection, topic, partition, next_offset, "
                "updated_at) VALUES (%s, %s, %s, 0, now())",
                [name, topic, partition],
            )
    move = (
        "UPDATE proj_checkpoint SET next_offset = 5 "
        "WHERE projection = %s AND topic = %s AND partition = %s"
    )
    errors: list[BaseException] = []
    with (
        psycopg.connect(postgres_dsn()) as follower,
        psycopg.connect(postgres_dsn(), autocommit=True) as rebuild,
    ):
        follower.execute(move, [name, topic, 0])  # its transaction holds partition 0
        pid = rebuild.info.backend_pid
        # Whatever plan the DELETE gets: a sequential scan takes the rows in the table's order.
        rebuild.execute("SET enable_indexscan = off")
        rebuild.execute("SET enable_bitmapscan = off")

        def start_rebuild() -> None:
            try:
                with rebuild.cursor() as cur:
                    postgres_target.delete_checkpoints(cur, name)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=start_rebuild)
        thread.start()
        wait_for_lock_wait = 0
        while wait_for_lock_wait < 200:  # until the DELETE waits for a row lock
            row = follower.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            if row and row[0] == "Lock":
                break
            wait_for_lock_wait += 1
            threading.Event().wait(0.01)
        follower.execute(move, [name, topic, 1])  # then partition 1: no deadlock
        follower.commit()
        thread.join(timeout=10)
    assert not thread.is_alive() and not errors, errors
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM proj_checkpoint WHERE projection = %s", [name])
        assert cur.fetchone()[0] == 0


def test_a_side_effects_jobs_of_every_partition_of_a_poll_are_one_commit_and_one_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A side effect's parts of a poll record their jobs in one transaction (whose commit waits
    for the disk) and send every job's task in one call (one wait for the broker's confirms),
    not one of each per partition; a part whose checkpoint moved meanwhile is then refused
    alone, and the others still record each job once."""
    from projections import wakeups
    from projections.models import SideEffectJob
    from projections.targets import SideEffectTarget, side_effect_target

    mail = "tests.deposit_mail"
    topic, batches, prefix = _batches(streams=8)
    assert len(batches) >= 2, "the streams all landed in one partition"
    target = target_for(registry.consumer(mail))
    parts = [
        ((mail, topic, partition), _owned(target, topic, partition, messages[0].offset()))
        for (_topic, partition), messages in batches.items()
    ]
    commits: list[int] = []
    together = side_effect_target.apply_together

    def counted(*args: Any) -> Any:
        commits.append(1)
        return together(*args)

    sent: list[list[object]] = []
    monkeypatch.setattr(side_effect_target, "apply_together", counted)
    monkeypatch.setattr(wakeups, "send_tasks", lambda tasks: sent.append([t.args for t in tasks]))
    monkeypatch.setattr(SideEffectTarget, "apply", lambda *_a, **_k: pytest.fail("applied alone"))

    outcomes = apply_parts(parts, batches, registry.event_registry())

    assert len(commits) == 1 and len(sent) == 1
    jobs = SideEffectJob.objects.filter(stream_id__startswith=prefix)
    assert jobs.count() == 16  # two deposits a stream
    assert sorted(args[0] for args in sent[0]) == sorted(job.pk for job in jobs)  # type: ignore[index]
    for pair, owned in parts:
        end = batches[pair[1:]][-1].offset() + 1
        assert outcomes[pair][:2] == (Outcome.APPLIED, end), pair
        assert owned.target.next_offset(topic, pair[2]) == end, pair

    # Again from the same offsets, one checkpoint moved by someone else: the group is refused,
    # each part alone: that one MOVED, the others applied and their jobs not recorded twice.
    monkeypatch.undo()
    topic, batches, prefix = _batches(streams=8)
    parts = [
        ((mail, topic, partition), _owned(target, topic, partition, messages[0].offset()))
        for (_topic, partition), messages in batches.items()
    ]
    (moved_pair, moved), *others = parts
    end = batches[moved_pair[1:]][-1].offset() + 1
    assert target.apply(topic, moved_pair[2], [], expected_offset=moved.offset, next_offset=end)
    outcomes = apply_parts(parts, batches, registry.event_registry())
    assert outcomes[moved_pair][0] == Outcome.MOVED
    assert all(outcomes[pair][0] == Outcome.APPLIED for pair, _owned_ in others)
    jobs = SideEffectJob.objects.filter(stream_id__startswith=prefix)
    moved_streams = {m.key().decode() for m in batches[moved_pair[1:]]}
    assert jobs.count() == 2 * len({f"{prefix}-{s}" for s in range(8)} - moved_streams)


def test_the_read_models_of_a_poll_are_applied_before_the_side_effects_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A side effect's jobs wait for the disk and the broker: the read models of the poll (in
    groups or alone) are written first, so their lag does not include that."""
    from projections.targets import postgres_target, redis_target, side_effect_target
    from tests.support.engine import PG

    topic, batches, _prefix = _batches(streams=8)
    names = [TOTALS, Counts.name, REDIS, RedisCounts.name, PG, "tests.deposit_mail"]
    own = (Counts.name, RedisCounts.name)  # (not registered: the test's own)
    targets = {name: target_for(registry.consumer(name)) for name in names if name not in own}
    targets[Counts.name] = PostgresTarget(Counts())
    targets[RedisCounts.name] = RedisTarget(RedisCounts())
    parts = [
        ((name, topic, partition), _owned(targets[name], topic, partition, messages[0].offset()))
        for (_topic, partition), messages in batches.items()
        for name in names
    ]
    order: list[str] = []
    for module, kind in (
        (postgres_target, "read models"),
        (redis_target, "read models"),
        (side_effect_target, "jobs"),
    ):
        together = module.apply_together

        def counted(*args: Any, _together: Any = together, _kind: str = kind) -> Any:
            order.append(_kind)
            return _together(*args)

        monkeypatch.setattr(module, "apply_together", counted)
    alone = PostgresTarget.apply  # the ledger's balances: not pipelined, each partition alone

    def apply_alone(self: PostgresTarget, *args: Any, **kwargs: Any) -> bool:
        order.append("read models")
        return alone(self, *args, **kwargs)

    monkeypatch.setattr(PostgresTarget, "apply", apply_alone)

    outcomes = apply_parts(parts, batches, registry.event_registry())

    assert all(outcome[0] == Outcome.APPLIED for outcome in outcomes.values()), outcomes
    assert order[-1] == "jobs" and order.count("jobs") == 1, order
    assert order.count("read models") == 2 + len(batches), order
