"""What replication costs the relay: events a second it publishes (idempotent producer,
acks=all) to the stack's single broker, topics with one replica, beside the three-broker cluster
of `make test-cluster`, topics with three replicas and two in sync; in alternating rounds of one
run, each round publishing the same number of fresh outbox rows to each.

    make bench-cluster [BENCH_ARGS="--quick --runs N"]

The cluster's three brokers share this machine's cores with the single one and Postgres: the
ratio says what the replication traffic and the wait for two in-sync replicas cost here, an
upper bound of what it costs on machines of their own.
"""

from __future__ import annotations

import argparse
import os
import sys

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    configure_env()
    sys.path.insert(0, str(ROOT))
    setup()
    from django.conf import settings

    from eventstore.kafka_admin import delete_topics, ensure_topics

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
        {"events_per_round": n, "cluster": CLUSTER},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
