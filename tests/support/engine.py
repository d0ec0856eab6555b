"""Helpers for projection engine tests: publish events, dump read models, fast-forward."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from eventstore.relay import Relay, RelayConfig
from eventstore.runtime import postgres_dsn
from projections import registry
from projections.status import partitions
from projections.targets import PostgresTarget, RedisTarget, redis_namespace, target_for
from projections.tasks import catch_up_partition
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import ROOT, child_env, pg_store
from tests.support.store_contract import opened

PG, REDIS = "tests.ledger_balances", "tests.ledger_redis"


def publish(prefix: str, streams: int, deposits: int, amount: Decimal = Decimal(1)) -> int:
    """Open `streams` ledgers with `deposits` deposits each, and relay them to Kafka."""
    store = pg_store()
    for s in range(streams):
        events = [opened(), *[Deposited(amount=amount) for _ in range(deposits)]]
        store.append(f"{prefix}-{s}", STREAM_TYPE, events, expected_version=0)
    relay()
    return streams * (deposits + 1)


def relay() -> None:
    Relay(
        RelayConfig(
            dsn=postgres_dsn(), bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS, idle_wait=0.2
        )
    ).run(once=True)


@contextlib.contextmanager
def own_log() -> Iterator[str]:
    """Kafka topics of the test's own, under a new prefix (also in os.environ, for the worker
    processes it starts), removed after it. A rebuild from offset 0 then reads only what the
    test published, not the whole session's log: its time no longer depends on the tests
    that ran before. Yields the prefix."""
    from config.eventstore import topics as module_topics
    from eventstore.kafka_admin import delete_topics, ensure_topics
    from eventstore.postgres import PostgresEventStore
    from eventstore.runtime import get_store

    base, topics = settings.KAFKA_TOPIC_PREFIX, settings.KAFKA_TOPICS
    prefix = f"{base}{uuid.uuid4().hex[:6]}."
    own = {f"{prefix}{name.removeprefix(base)}": config for name, config in topics.items()}
    ensure_topics(settings.KAFKA_BOOTSTRAP_SERVERS, own)
    relay()  # what earlier tests left unpublished goes to the earlier topics
    settings.KAFKA_TOPIC_PREFIX, settings.KAFKA_TOPICS = prefix, own
    os.environ["KAFKA_TOPIC_PREFIX"] = prefix
    store = get_store()
    assert isinstance(store, PostgresEventStore)
    named = store.topics
    store.topics = module_topics()  # the store names them when it starts: name them again
    try:
        yield prefix
    finally:
        settings.KAFKA_TOPIC_PREFIX, settings.KAFKA_TOPICS = base, topics
        os.environ["KAFKA_TOPIC_PREFIX"] = base
        store.topics = named
        delete_topics(settings.KAFKA_BOOTSTRAP_SERVERS, list(own))


def fast_forward(name: str) -> None:
    """Empty the read model and start it at the end of the log (ignore earlier tests' events)."""
    projection = registry.get(name)
    target = target_for(projection)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM proj_dead_letter WHERE projection = %s", [name])
        cur.execute("DELETE FROM proj_checkpoint WHERE projection = %s", [name])
    if isinstance(target, PostgresTarget):
        target.setup()
        with connection.cursor() as cur:
            for table in target.projection.tables:
                cur.execute(f"TRUNCATE {table}")
    else:
        assert isinstance(target, RedisTarget)
        for key in target.client.scan_iter(match=f"{redis_namespace(name)}:*", count=1000):
            target.client.delete(key)
    for topic in registry.topics_of(projection):
        for partition in partitions(topic):
            end = kafka_end(topic, partition)
            assert target.apply(
                topic,
                partition,
                [],
                expected_offset=target.next_offset(topic, partition),
                next_offset=end,
            )


def skip_earlier_events(
    names: Iterable[str] | None = None, *, exclude: tuple[str, ...] = ()
) -> None:
    """Move the checkpoints of `names` (default: every consumer but `exclude`) to the end of
    the log."""
    for name in registry.consumers() if names is None else names:
        if name in exclude:
            continue
        consumer = registry.consumer(name)
        target = target_for(consumer)
        if isinstance(target, PostgresTarget):
            target.setup()
        for topic in registry.topics_of(consumer):
            for partition in partitions(topic):
                target.apply(
                    topic,
                    partition,
                    [],
                    expected_offset=target.next_offset(topic, partition),
                    next_offset=kafka_end(topic, partition),
                )


def kafka_end(topic: str, partition: int) -> int:
    from projections import log

    return log.log_end(topic, partition)


def catch_up_all_partitions(name: str) -> None:
    """Run the catch-up task body (as a worker would) until every partition is at its end."""
    target = target_for(registry.consumer(name))
    for topic in registry.topics_of(registry.consumer(name)):
        for partition in partitions(topic):
            catch_up_partition(name, topic, partition)
            while target.next_offset(topic, partition) < kafka_end(topic, partition):
                catch_up_partition(name, topic, partition)


def dump(name: str, prefix: str) -> Any:
    """A canonical dump of one read model, limited to the streams of one test."""
    if name == PG:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT stream_id, owner, balance::text, versions FROM "
                "test_ledger_balance WHERE stream_id LIKE %s ORDER BY stream_id",
                [f"{prefix}-%"],
            )
            return [list(row) for row in cur.fetchall()]
    client = get_redis_connection("default")
    ns = redis_namespace(name)
    out: dict[str, Any] = {
        "owner": {
            k.decode(): v.decode()
            for k, v in client.hgetall(f"{ns}:owner").items()
            if k.decode().startswith(prefix)
        },
        "cents": {
            k.decode(): int(v)
            for k, v in client.hgetall(f"{ns}:cents").items()
            if k.decode().startswith(prefix)
        },
    }
    for key in sorted(client.scan_iter(match=f"{ns}:versions:{prefix}-*", count=1000)):
        out[key.decode()] = [int(v) for v in client.lrange(key, 0, -1)]
    return json.loads(json.dumps(out, sort_keys=True))


def lag(name: str) -> int:
    from projections.status import status

    return sum(row.lag for row in status([name]))


_started: list[subprocess.Popen[bytes]] = []


def stop_leftover_workers() -> int:
    """Stop the workers a test started and left running (it failed before its own cleanup);
    how many there were. Else they would go on consuming this run's queues, and CPU, for the
    rest of the session."""
    left = [p for p in _started if p.poll() is None]
    _started.clear()
    stop_processes(*left)
    return len(left)


def stop_processes(*processes: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM to all of them at once, then wait for each; SIGKILL for any still up after."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _spawn(log: Path, argv: list[str], env: dict[str, str] | None) -> subprocess.Popen[bytes]:
    """A process of the system under test, from the checkout, logging to `log`, stopped at the
    end of the session if the test did not stop it."""
    with open(log, "ab") as fh:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=child_env(**(env or {})), stdout=fh, stderr=subprocess.STDOUT
        )
    _started.append(process)
    return process


def start_worker(
    log: Path, *extra: str, queues: str = "projections", env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return _spawn(
        log,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
            "-n",
            f"w{os.getpid()}-{len(extra)}-{log.stem}@%h",
            *extra,
        ],
        env,
    )


def start_follower(
    log: Path, env: dict[str, str] | None = None, *, skip: bool = True
) -> subprocess.Popen[bytes]:
    """A follower, as the Procfile runs it (`manage.py follow_projections`); start several for a
    group of them. Unless `skip` is False, every other consumer first skips what earlier tests
    left in the log: the follower would hand those backlogs to catch-up tasks, which would keep
    this test's worker busy. (That moves checkpoints without their locks: a follower started
    while others run must not skip, or they find their checkpoints moved under them.)"""
    if skip:
        skip_earlier_events(exclude=(PG, REDIS, "tests.ledger_totals"))
    return _spawn(log, [sys.executable, str(ROOT / "manage.py"), "follow_projections"], env)


def group_members() -> dict[str, set[tuple[str, int]]]:
    """The followers' consumer group as the brokers see it: each member's partitions."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    from projections.log import follower_group

    admin = AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    group = follower_group()
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    if described.state != ConsumerGroupState.STABLE:
        return {}
    return {
        member.member_id: {(tp.topic, tp.partition) for tp in member.assignment.topic_partitions}
        for member in described.members
    }


def followed(name: str, *, every: bool = True) -> bool:
    """Whether the follower owns every partition `name` reads (with every=False: any)."""
    from projections.wakeups import FOLLOWED, pending_key

    client = get_redis_connection("default")
    keys = [
        pending_key(name, topic, partition)
        for topic in registry.topics_of(registry.consumer(name))
        for partition in partitions(topic)
    ]
    owned = [value == FOLLOWED.encode() for value in client.mget(keys)]
    return all(owned) if every else any(owned)
