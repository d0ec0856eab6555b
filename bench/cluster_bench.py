"""Scaling out, in one run:

- followers: write-to-read lag (p50, p99) at 200 and 500 commands/s with 1, 2 and 3 followers
  sharing the partitions (a worker for catch-up tasks and the relay running, as in the
  Procfile), the time a burst of events takes to apply with each, and the lag while one of three
  followers is killed with SIGKILL: its peak, and the seconds until it is back under twice its
  p99 before the kill (at least 250 ms);
- what replication costs the relay: events a second it publishes (idempotent producer,
  acks=all) to the stack's single broker, topics with one replica, beside the three-broker
  cluster of `make test-cluster`, topics with three replicas and two in sync; in alternating
  rounds, each round publishing the same number of fresh outbox rows to each.

    make bench-cluster [BENCH_ARGS="--quick --runs N"]

The cluster's three brokers share this machine's cores with the single one and Postgres: the
ratio says what the replication traffic and the wait for two in-sync replicas cost here, an
upper bound of what it costs on machines of their own.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any

from bench import common
from bench.common import (
    ROOT,
    configure_env,
    medians,
    ratio,
    report,
    setup,
    summarize,
    teardown,
)
from bench.eventstore_bench import fill_outbox, relay_rate

CLUSTER = os.environ.get(
    "BENCH_CLUSTER_BOOTSTRAP", "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
)


def cluster_topics() -> dict[str, dict[str, object]]:
    """This run's topics as the cluster gets them: three replicas, two in sync."""
    from django.conf import settings

    topics = {}
    for name, spec in settings.KAFKA_TOPICS.items():
        config = {**spec.get("config", {}), "min.insync.replicas": "2"}
        topics[name] = {**spec, "replication_factor": 3, "config": config}
    return topics


_marks: dict[str, list[tuple[str, int, int]]] = {}


def switch_marks(to: str, away_from: str | None) -> None:
    """The relay's marks (es_relay_mark: where its recorded batches ended in each partition, the
    place a start scans Kafka from for unrecorded ones) are offsets of one Kafka: keep each
    Kafka's apart, so that neither relay start scans the other's partitions."""
    from django.db import connection

    with connection.cursor() as cur:
        if away_from is not None:
            cur.execute("SELECT topic, kafka_partition, kafka_offset FROM es_relay_mark")
            _marks[away_from] = cur.fetchall()
        cur.execute("DELETE FROM es_relay_mark")
        if _marks.get(to):
            cur.executemany(
                "INSERT INTO es_relay_mark (topic, kafka_partition, kafka_offset) "
                "VALUES (%s, %s, %s)",
                _marks[to],
            )


def cluster(action: str) -> None:
    """Start or stop the three brokers of `make test-cluster` (files under .stack/cluster)."""
    subprocess.run(
        [sys.executable, str(ROOT / "stack" / "stack.py"), action, "kafka"],
        env={
            **os.environ,
            "STACK_DIR": str(ROOT / ".stack" / "cluster"),
            "STACK_KAFKA_BROKERS": "3",
            "KAFKA_BOOTSTRAP_SERVERS": CLUSTER,
            "STACK_SKIP_TOPICS": "1",
        },
        check=True,
    )


def spread(topic: str) -> list[int]:
    """How many of `topic`'s partitions each follower of the group holds (the assignor balances
    the count over every topic, not each topic's)."""
    from confluent_kafka.admin import AdminClient
    from django.conf import settings

    from projections.log import follower_group

    admin = AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    group = follower_group()
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return sorted(
        (
            sum(1 for tp in m.assignment.topic_partitions if tp.topic == topic)
            for m in described.members
        ),
        reverse=True,
    )


def group_size() -> int:
    """Members of the followers' consumer group, once it is stable (0 while it rebalances)."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient
    from django.conf import settings

    from projections.log import follower_group

    admin = AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    group = follower_group()
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    if described.state != ConsumerGroupState.STABLE:
        return 0
    return sum(1 for m in described.members if m.assignment.topic_partitions)


def wait_for_members(count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while group_size() != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the followers' group did not reach {count} members")
        time.sleep(0.2)


def unpublished() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM es_outbox) - "
            "(SELECT coalesce(sum(cardinality(outbox_ids)), 0) FROM es_relay_batch)"
        )
        return int(cur.fetchone()[0])


def burst(events: int) -> float:
    """Seconds from appending `events` until the relay published them and both read models
    applied them."""
    import uuid
    from decimal import Decimal

    from bench.projections import Counted
    from bench.projections_bench import PG, REDIS, STREAM_TYPE, lag
    from eventstore.runtime import get_store

    store, prefix = get_store(), uuid.uuid4().hex[:6]
    started = time.perf_counter()
    for i in range(0, events, 100):  # the running relay publishes them
        batch = [Counted(amount=Decimal(1)) for _ in range(min(100, events - i))]
        store.append(f"burst-{prefix}-{i}", STREAM_TYPE, batch, expected_version=0)
    while unpublished() or lag(PG) + lag(REDIS) > 0:
        time.sleep(0.01)
    return time.perf_counter() - started


def followers_phase(seconds: float, burst_events: int) -> dict[str, Any]:
    """Lag and bursts with 1, 2 and 3 followers, then one of three killed mid-window."""
    from django.conf import settings

    from bench.projections_bench import measure_lag, start_processes, write_to_read_lag

    figures: dict[str, Any] = {}
    processes: list[subprocess.Popen[bytes]] = [*start_processes(), common.start_relay()]
    followers: list[subprocess.Popen[bytes]] = []
    try:
        for count in (1, 2, 3):
            while len(followers) < count:
                followers.append(common.start_follower(f"follower{len(followers)}"))
            wait_for_members(count)
            time.sleep(2)  # each takes the locks of its partitions
            hot = spread(f"{settings.KAFKA_TOPIC_PREFIX}products.events")
            figures[f"products_partitions_per_follower_{count}_followers"] = hot
            print(f"{count} follower(s), the read models' topic's partitions: {hot}", flush=True)
            for rate in (200, 500):
                figures[f"lag_ms_at_{rate}_per_s_{count}_followers"] = measure_lag(rate, seconds)
            took = burst(burst_events)
            per_s = burst_events / took
            figures[f"burst_{count}_followers"] = {"seconds": took, "events_per_s": per_s}
            print(f"  a burst of {burst_events} events applied in {took:.2f}s")
        kill_after, timeline = 5.0, list[tuple[float, float]]()
        victim = followers[1]
        killed_at: list[float] = []

        def kill() -> None:
            killed_at.append(time.perf_counter())
            victim.kill()

        threading.Timer(kill_after, kill).start()
        lags, issued = write_to_read_lag(200.0, kill_after + 20.0, timeline)
        victim.wait()
        at = killed_at[0]
        before = sorted(lag for t, lag in timeline if t < at)
        usual = before[int(0.99 * (len(before) - 1))] if before else 0.0
        threshold = max(0.25, 2 * usual)  # over twice the p99 before the kill, and 250 ms
        after = [(t - at, lag) for t, lag in timeline if t >= at]
        slow = [t for t, lag in after if lag > threshold]
        figures["kill_one_of_three_at_200_per_s"] = killing = {
            "p99_before_ms": usual * 1000,
            "peak_lag_ms": max((lag for _t, lag in after), default=0.0) * 1000,
            "threshold_ms": threshold * 1000,
            "seconds_until_under_threshold": max(slow, default=0.0),
            "not_applied_within_60s": issued - len(lags),
        }
        line = (
            "  one of three killed: p99 before {p99_before_ms:.0f} ms, peak after {peak_lag_ms:.0f}"
            " ms, under {threshold_ms:.0f} ms for good after {seconds_until_under_threshold:.1f}s"
        )
        print(line.format(**killing))
    finally:
        common.stop([*followers, *processes])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    configure_env("bench.settings")
    sys.path.insert(0, str(ROOT))
    setup()
    from django.conf import settings

    from config.celery import app

    app.control.purge()  # nothing left over from an earlier run
    logging.getLogger("eventstore").setLevel(logging.WARNING)  # the relays' lines per batch
    followers = followers_phase(5.0 if args.quick else 15.0, 3000)

    from eventstore.kafka_admin import delete_topics, ensure_topics

    cluster("up")  # after the followers' figures: its brokers would share the cores
    ensure_topics(CLUSTER, cluster_topics())
    single = settings.KAFKA_BOOTSTRAP_SERVERS
    samples: dict[str, list[float]] = {"relay, 1 replica": [], "relay, 3 replicas": []}
    try:
        relay_rate(single)  # whatever the setup left
        current = single
        for run in range(args.runs):
            order = [("relay, 1 replica", single), ("relay, 3 replicas", CLUSTER)]
            for key, bootstrap in order if run % 2 == 0 else order[::-1]:
                fill_outbox(n)
                if bootstrap != current:
                    switch_marks(bootstrap, away_from=current)
                    current = bootstrap
                rate = relay_rate(bootstrap)
                samples[key].append(rate)
                print(f"  round {run + 1} {key:<20}{rate:>10.0f} events/s", flush=True)
    finally:
        delete_topics(CLUSTER, list(settings.KAFKA_TOPICS))
        cluster("down")
        teardown()
    figures = summarize(samples)
    med = medians(figures)
    report(
        "cluster",
        figures,
        {
            "relay, 3 replicas / 1 replica": (
                ratio(med("relay, 3 replicas"), med("relay, 1 replica")),
                "acks=all, min.insync.replicas=2, all brokers on this machine",
            )
        },
        "events/s",
        {"events_per_round": n, "cluster": CLUSTER, "followers": followers},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
