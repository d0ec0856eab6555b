"""Event store and relay throughput beside their raw parts and a peer library, in one run.

    python -m bench.eventstore_bench [--quick] [--runs N]      (or: make bench-eventstore)

Figures (median of N runs, with min and max), all against the real local servers:
- raw insert/tx: one single-row INSERT per transaction with psycopg (the floor of any append);
- raw append rows/tx: the three rows an append writes (the stream's version, the event, its
  outbox row) in one plain SQL statement per transaction with psycopg: no function, no checks,
  no Python; the ceiling of any append on this machine, and of the append/raw insert ratio;
- append, 1 and 8 writers: PostgresEventStore.append, one event per command, with its outbox row;
- eventsourcing: the `eventsourcing` library's Postgres application, one event per save
  (from bench/.peer-venv, so the library is never a project dependency);
- raw produce: confluent-kafka producing the relay's exact messages with the relay's settings;
- relay: the outbox relay publishing those events to Kafka and marking them.
Writes bench/results/eventstore-<timestamp>.json. Ratios are the headline: the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from bench.common import (
    ROOT,
    RUN_ID,
    configure_env,
    dsn,
    medians,
    ratio,
    report,
    setup,
    summarize,
    teardown,
)

PEER_PYTHON = ROOT / "bench" / ".peer-venv" / "bin" / "python"
STREAM_TYPE = "products.BenchCounter"
RAW_TOPIC = ("raw",)


@dataclass(frozen=True)
class Incremented:
    event_type: ClassVar[str] = "bench.Incremented"
    schema_version: ClassVar[int] = 1
    amount: Decimal
    note: str = "a typical small event payload"


def store() -> Any:
    from django.conf import settings

    from eventstore.events import EventRegistry
    from eventstore.postgres import PostgresEventStore

    registry = EventRegistry()
    registry.register(Incremented)
    topic = f"{settings.KAFKA_TOPIC_PREFIX}products.events"
    return PostgresEventStore(registry, topics=defaultdict(lambda: topic))


def raw_insert(n: int) -> float:
    import psycopg

    with psycopg.connect(dsn(), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw "
            "(id bigserial PRIMARY KEY, stream_id text, payload jsonb)"
        )
        payload = json.dumps({"amount": "1", "note": "a typical small event payload"})
        start = time.perf_counter()
        for i in range(n):
            conn.execute(
                "INSERT INTO bench_raw (stream_id, payload) VALUES (%s, %s::jsonb)",
                [f"s-{i % 100}", payload],
            )
        return n / (time.perf_counter() - start)


_THREE_ROWS_SQL = """
WITH s AS (
    INSERT INTO es_stream (stream_id, stream_type, version) VALUES (%(stream)s, %(type)s, 1)
    ON CONFLICT (stream_id) DO UPDATE SET version = es_stream.version + 1
    RETURNING version
), e AS (
    INSERT INTO es_event (event_id, stream_id, stream_type, stream_version, event_type,
                          schema_version, occurred_at, payload)
    SELECT gen_random_uuid(), %(stream)s, %(type)s, s.version, 'bench.Incremented', 1, now(),
           %(payload)s::jsonb FROM s
    RETURNING position
)
INSERT INTO es_outbox (event_position, topic) SELECT position, %(topic)s FROM e
"""


def raw_append_rows(n: int) -> float:
    import psycopg
    from django.conf import settings

    payload = json.dumps({"amount": "1", "note": "a typical small event payload"})
    topic, prefix = f"{settings.KAFKA_TOPIC_PREFIX}raw", f"raw-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn(), autocommit=True) as conn:
        start = time.perf_counter()
        for i in range(n):
            conn.execute(
                _THREE_ROWS_SQL,
                {
                    "stream": f"{prefix}-{i // 100}",
                    "type": STREAM_TYPE,
                    "payload": payload,
                    "topic": topic,
                },
            )
        return n / (time.perf_counter() - start)


def appends(n: int, prefix: str) -> float:
    """n appends of one event each, 100 per stream, on this process's Django connection."""
    from django.db import connection

    es = store()
    start = time.perf_counter()
    for i in range(n):
        es.append(
            f"{prefix}-{i // 100}",
            STREAM_TYPE,
            [Incremented(amount=Decimal(i))],
            expected_version=i % 100,
        )
    elapsed = time.perf_counter() - start
    connection.close()
    return n / elapsed


def _writer(index: int, n: int, barrier: Any, out: Any) -> None:
    configure_env()
    import django

    django.setup()
    store().version("warm-up")
    barrier.wait(timeout=120)
    start = time.perf_counter()
    appends(n, f"w{index}-{uuid.uuid4().hex[:6]}")
    out.put((start, time.perf_counter()))


def parallel_appends(n_total: int, writers: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(i, n_total // writers, barrier, out))
        for i in range(writers)
    ]
    for p in procs:
        p.start()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    return float((n_total // writers) * writers / wall)


def peer(n: int) -> float | None:
    if not PEER_PYTHON.exists():
        return None
    proc = subprocess.run(
        [str(PEER_PYTHON), str(ROOT / "bench" / "eventsourcing_peer.py"), str(n)],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=900,
    )
    if proc.returncode != 0:
        print(f"eventsourcing peer failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(result["events"] / result["seconds"])


def load_rates(n: int, run: int) -> dict[str, float]:
    """Loads per second of a stream with a snapshot (at 25, the default interval) and 10 events
    after it: the snapshot, then the tail (two round trips), beside both in one."""
    from eventstore.aggregate import Snapshotted

    s = store()
    stream = f"load-{run}-{RUN_ID}"
    snapshot = Snapshotted(stream, STREAM_TYPE, 25, 1, {"count": 25})
    s.append(
        stream, STREAM_TYPE, [Incremented(Decimal(1))] * 25, expected_version=0, snapshot=snapshot
    )
    s.append(stream, STREAM_TYPE, [Incremented(Decimal(1))] * 10, expected_version=25)

    def two_trips() -> None:
        found = s.load_snapshot(stream)
        s.read(stream, from_version=found.version + 1)

    def one_trip() -> None:
        s.load_stream(stream)

    rates = {}
    for name, load in (("load_2_trips", two_trips), ("load_1_trip", one_trip)):
        for _ in range(50):
            load()
        started = time.perf_counter()
        for _ in range(n):
            load()
        rates[name] = n / (time.perf_counter() - started)
    return rates


def fill_outbox(n: int) -> None:
    """n unpublished events, 100 per append (fast), for the relay to publish."""
    es = store()
    prefix = f"fill-{uuid.uuid4().hex[:6]}"
    for i in range(0, n, 100):
        es.append(
            f"{prefix}-{i // 100}",
            STREAM_TYPE,
            [Incremented(amount=Decimal(j)) for j in range(100)],
            expected_version=0,
        )


def pending_messages() -> list[tuple[Any, ...]]:
    import psycopg

    from eventstore.relay.outbox import BATCH_SQL as _BATCH_SQL

    with psycopg.connect(dsn(), autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return conn.execute(_BATCH_SQL, [0, 10_000_000]).fetchall()


def raw_produce(rows: list[tuple[Any, ...]]) -> float:
    from confluent_kafka import Producer
    from django.conf import settings

    from eventstore.relay import RelayConfig, message_value, producer_config

    config = RelayConfig(dsn="", bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS)
    producer = Producer(producer_config(config))
    topic = f"{settings.KAFKA_TOPIC_PREFIX}raw"
    acked = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal acked
        if err is None:
            acked += 1

    values = [message_value(row) for row in rows]  # the same messages, built beforehand
    start = time.perf_counter()
    for row, value in zip(rows, values, strict=True):
        headers = [
            ("event_id", row[3]),
            ("event_type", row[4]),
            ("schema_version", row[5]),
            ("stream_type", row[6]),
            ("stream_version", row[7]),
            ("occurred_at", row[8]),
            ("correlation_id", row[9]),
            ("causation_id", row[10]),
            ("actor", row[11]),
        ]
        while True:
            try:
                producer.produce(
                    topic, key=row[2], value=value, headers=headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    elapsed = time.perf_counter() - start
    assert acked == len(rows), f"only {acked} of {len(rows)} acknowledged"
    return len(rows) / elapsed


def relay_rate(bootstrap: str | None = None) -> float:
    """Events a second the relay publishes (to `bootstrap`, by default the settings' Kafka),
    from what the outbox holds."""
    from django.conf import settings

    from eventstore.relay import Relay, RelayConfig

    relay = Relay(
        RelayConfig(
            dsn=dsn(),
            bootstrap_servers=bootstrap or settings.KAFKA_BOOTSTRAP_SERVERS,
            batch_size=settings.EVENTSTORE_RELAY_BATCH_SIZE,
        )
    )
    start = time.perf_counter()
    published = relay.run(once=True)
    return published / (time.perf_counter() - start)


GROWTH = {True: (10_000, 100_000), False: (10_000, 100_000, 1_000_000)}  # by --quick


def grow_table_to(total: int) -> None:
    """Fill es_event up to `total` rows (streams of 1,000 events), in SQL: the append rate is
    then measured on a table of that size."""
    import psycopg

    with psycopg.connect(dsn(), autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM es_event").fetchone()[0]  # type: ignore[index]
        step = 200_000
        while have < total:
            batch = min(step, total - have)
            conn.execute(
                "INSERT INTO es_event (event_id, stream_id, stream_type, stream_version, "
                "event_type, schema_version, occurred_at, payload) "
                "SELECT gen_random_uuid(), 'fill-' || %s || '-' || (g / 1000), "
                "'products.Product', g %% 1000 + 1, 'bench.Incremented', 1, now(), "
                '\'{"amount": "1"}\'::jsonb FROM generate_series(0, %s - 1) g',
                [have, batch],
            )
            have += batch
        conn.execute("ANALYZE es_event")


def append_rate_as_table_grows(sizes: tuple[int, ...], n: int) -> dict[str, float]:
    rates = {}
    for size in sizes:
        grow_table_to(size)
        key = f"append_at_{size // 1000}k_stored"
        rates[key] = appends(n, f"grow-{size}-{RUN_ID}")
        print(f"  append rate with {size:,} stored events: {rates[key]:.0f}/s")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes (under a minute)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    n = (
        dict(insert=400, append=400, parallel=1600, peer=400, relay=20_000)
        if args.quick
        else dict(insert=2000, append=2000, parallel=8000, peer=2000, relay=100_000)
    )
    configure_env()
    sys.path.insert(0, str(ROOT))
    setup(RAW_TOPIC)
    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "raw_insert_per_tx",
            "raw_append_rows_per_tx",
            "append_1_writer",
            "append_8_writers",
            "eventsourcing_1_writer",
            "raw_produce",
            "relay",
            "load_2_trips",
            "load_1_trip",
        )
    }
    try:
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs} ...", flush=True)
            samples["raw_insert_per_tx"].append(raw_insert(n["insert"]))
            samples["raw_append_rows_per_tx"].append(raw_append_rows(n["insert"]))
            samples["append_1_writer"].append(appends(n["append"], f"a-{run}-{RUN_ID}"))
            samples["append_8_writers"].append(parallel_appends(n["parallel"], 8))
            for key, loads_per_s in load_rates(n["append"], run).items():
                samples[key].append(loads_per_s)
            if (rate := peer(n["peer"])) is not None:
                samples["eventsourcing_1_writer"].append(rate)
            relay_rate()  # publish what the append scenarios left, untimed
            fill_outbox(n["relay"])
            rows = pending_messages()
            samples["raw_produce"].append(raw_produce(rows))
            samples["relay"].append(relay_rate())
        relay_rate()  # leave nothing for the growth scenario's appends to queue behind
        print("append rate as the event table grows ...", flush=True)
        for key, rate in append_rate_as_table_grows(GROWTH[args.quick], n["append"]).items():
            samples.setdefault(key, []).append(rate)
    finally:
        teardown(RAW_TOPIC)
    report_figures(summarize(samples), args)
    return 0


def report_figures(figures: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    med = medians(figures)
    ratios: dict[str, tuple[float | None, str]] = {
        "append_1 / raw_insert": (
            ratio(med("append_1_writer"), med("raw_insert_per_tx")),
            "target >= 0.50",
        ),
        "raw append rows / raw_insert": (
            ratio(med("raw_append_rows_per_tx"), med("raw_insert_per_tx")),
            "the ceiling of append_1 / raw_insert",
        ),
        "append_1 / raw append rows": (
            ratio(med("append_1_writer"), med("raw_append_rows_per_tx")),
            "target >= 0.80 (the cost of checks, function and Python)",
        ),
        "append_1 / eventsourcing": (
            ratio(med("append_1_writer"), med("eventsourcing_1_writer")),
            "target >= 1.00",
        ),
        "append_8 / append_1": (
            ratio(med("append_8_writers"), med("append_1_writer")),
            "scaling with writers",
        ),
        "relay / raw_produce": (ratio(med("relay"), med("raw_produce")), "target >= 0.50"),
        "load, 1 trip / 2 trips": (
            ratio(med("load_1_trip"), med("load_2_trips")),
            "snapshot and tail in one query (a command's load)",
        ),
        "relay / 20,000 events/s": (ratio(med("relay"), 20_000.0), "target >= 1.00"),
    }
    sizes = GROWTH[args.quick]
    largest, smallest = (
        f"append_at_{sizes[-1] // 1000}k_stored",
        f"append_at_{sizes[0] // 1000}k_stored",
    )
    ratios[f"append at {sizes[-1]:,} / at {sizes[0]:,} stored"] = (
        ratio(med(largest), med(smallest)),
        "target: flat (about 1.0)",
    )
    report("eventstore", figures, ratios, "events/s", {"quick": args.quick, "runs": args.runs})


if __name__ == "__main__":
    sys.exit(main())
