"""Kafka as a cluster (`make test-cluster` starts three brokers of its own, on ports 19092 to
19097, and points this run at them): kill -9 one broker while 2,000 commands run, start it again:
no command failed, every event is in Kafka exactly once and in per-stream order, and the read
models equal a rebuild."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from django.conf import settings

from apps.products import commands as products
from apps.shared.bus import dispatch
from eventstore.kafka_admin import topic_name
from eventstore.models import StoredEvent
from projections import registry, replay
from projections.dump import dump
from tests.support.engine import catch_up_all_partitions
from tests.support.pg import ROOT, consume_all, outbox_counts, start_relay, wait_for
from tests.support.shop import a_product, skip_earlier_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLUSTER_DIR = Path(os.environ.get("KAFKA_CLUSTER_STACK_DIR", ROOT / ".stack" / "cluster"))
COMMANDS = 2000
WRITERS = 4
PRODUCTS = 40


def broker_pid(node: int) -> int:
    return int((CLUSTER_DIR / "run" / f"kafka-{node}.pid").read_text())


def restart_missing_brokers() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "stack" / "stack.py"), "up", "kafka"],
        env={
            **os.environ,
            "STACK_DIR": str(CLUSTER_DIR),
            "STACK_KAFKA_BROKERS": "3",
            "STACK_SKIP_TOPICS": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_topics_are_replicated_three_times_with_two_in_sync(isolated_servers: None) -> None:
    admin = AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.brokers) == 3
    for topic in settings.KAFKA_TOPICS:
        partitions = metadata.topics[topic].partitions.values()
        assert partitions and all(len(p.replicas) == 3 for p in partitions), topic
        assert settings.KAFKA_TOPICS[topic]["config"]["min.insync.replicas"] == "2"


def test_a_broker_killed_mid_load_loses_nothing_and_fails_no_command(
    isolated_servers: None, tmp_path: Path
) -> None:
    skip_earlier_events()
    relay = start_relay(tmp_path / "relay.log")
    ids = [a_product(stock=0, publish=False) for _ in range(PRODUCTS)]
    done = Counter[str]()
    failures: list[BaseException] = []
    lock = threading.Lock()

    def writer(seed: int) -> None:
        from django.db import connection

        try:
            for i in range(COMMANDS // WRITERS):
                product = ids[(seed * 11 + i) % len(ids)]
                price = Decimal(1000 * (seed + 1) + i + 1) / 100  # each unique, none 20.00
                try:
                    dispatch(products.ChangePrice(product_id=product, price=price, currency="EUR"))
                except BaseException as exc:  # noqa: BLE001 - every failure is reported
                    failures.append(exc)
                with lock:
                    done["commands"] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        wait_for("a quarter of the commands", lambda: done["commands"] >= COMMANDS // 4, 120)
        victim = broker_pid(2)
        os.kill(victim, signal.SIGKILL)
        killed_at = done["commands"]
        wait_for("three quarters", lambda: done["commands"] >= 3 * COMMANDS // 4, 240)
        restarted = restart_missing_brokers()
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert broker_pid(2) != victim
        for thread in threads:
            thread.join(timeout=300)
        assert not failures, failures[:3]
        assert done["commands"] == COMMANDS and killed_at < 3 * COMMANDS // 4
        wait_for("the relay to publish everything", lambda: len(set(outbox_counts())) == 1, 180)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=60)

    # Every event of these products in Kafka exactly once, each stream in one partition, in order.
    stored = defaultdict(list)
    for event_id, stream_id in (
        StoredEvent.objects.filter(stream_id__in=ids)
        .order_by("stream_id", "stream_version")
        .values_list("event_id", "stream_id")
    ):
        stored[stream_id].append(str(event_id))
    assert sum(len(v) for v in stored.values()) == COMMANDS + PRODUCTS
    seen: dict[str, list[str]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    published = Counter[str]()
    for message in consume_all(topic_name("products")):
        body = json.loads(message.value())
        if body["stream_id"] in stored:
            published[body["event_id"]] += 1
            seen[body["stream_id"]].append(body["event_id"])
            partitions[body["stream_id"]].add(message.partition())
    twice = [event for event, n in published.items() if n > 1]
    assert not twice, f"{len(twice)} events published more than once"
    assert dict(seen) == dict(stored), "events missing, or a stream out of order"
    assert all(len(p) == 1 for p in partitions.values())

    # The read models, applied live from the cluster, equal a rebuild from it.
    for name in ("products.catalog", "products.price_history"):
        catch_up_all_partitions(name)
        live = dump(registry.get(name))
        replay.rebuild(name)
        assert dump(registry.get(name)) == live, name
