"""Projection throughput, replay and write-to-read lag, beside raw writes, in one run.

    python -m bench.projections_bench [--quick] [--runs N]      (or: make bench-projections)

Against the real local servers, with real worker processes:
- raw writes: the projection's own upsert through psycopg executemany (1,000 rows a
  transaction), and its Redis commands through MULTI pipelines (1,000 events each);
- real path: events already in Kafka, applied by a Celery worker with two pool processes (-c 2,
  one per core, as the Procfile runs it) woken over RabbitMQ, until the lag is 0, for the
  Postgres and for the Redis read model;
- replay: `replay_projections`' rebuild of the Postgres read model from the whole log;
- lag: steady 50, 200 and 500 commands/s for a while, with the relay, the worker and the
  follower running (the Procfile's set), and the time from each command's commit to its read
  model having applied it (p50/p95/p99), sampled every 2 ms (so figures carry up to ~2 ms of
  sampling error); then 200/s again without the follower (catch-up tasks only), for comparison.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

from bench import common
from bench.common import (
    ROOT,
    configure_env,
    dsn,
    medians,
    percentile,
    ratio,
    relay_once,
    report,
    setup,
    summarize,
    teardown,
)

PG, REDIS = "bench.totals", "bench.leaderboard"
STREAM_TYPE = "products.BenchItem"
STREAMS = 1000


def publish(n: int, per_append: int = 100) -> None:
    """n events over STREAMS streams, appended 100 at a time, then relayed to Kafka."""
    from bench.projections import Counted
    from eventstore.runtime import get_store

    store = get_store()
    prefix = uuid.uuid4().hex[:6]
    for i in range(0, n, per_append):
        store.append(
            f"{prefix}-{i // per_append}",
            STREAM_TYPE,
            [Counted(amount=Decimal(j % 7 + 1)) for j in range(per_append)],
            expected_version=0,
        )
    relay_once()


def raw_postgres(n: int) -> float:
    import psycopg

    from bench.projections import UPSERT

    with psycopg.connect(dsn()) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_totals (stream_id text PRIMARY KEY, "
            "total numeric NOT NULL, events integer NOT NULL)"
        )
        conn.commit()
        sql = UPSERT.replace("bench_totals", "bench_raw_totals")
        start = time.perf_counter()
        for i in range(0, n, 1000):
            with conn.cursor() as cur:
                cur.executemany(
                    sql, [(f"s-{j % STREAMS}", Decimal(j % 7 + 1)) for j in range(i, i + 1000)]
                )
            conn.commit()
        return n / (time.perf_counter() - start)


def raw_redis(n: int) -> float:
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    start = time.perf_counter()
    for i in range(0, n, 1000):
        with client.pipeline(transaction=True) as pipe:
            for j in range(i, i + 1000):
                pipe.hincrby("bench:raw:events", f"s-{j % STREAMS}", 1)
                pipe.zincrby("bench:raw:top", j % 7 + 1, f"s-{j % STREAMS}")
            pipe.execute()
    elapsed = time.perf_counter() - start
    client.delete("bench:raw:events", "bench:raw:top")
    return n / elapsed


def reset(name: str) -> None:
    from projections import registry, replay

    replay._start(registry.get(name))
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DELETE FROM proj_rebuild WHERE projection = %s", [name])


def lag(name: str) -> int:
    from projections.status import status

    return sum(r.lag for r in status([name]))


def wake_all(name: str) -> None:
    from projections import registry
    from projections.status import partitions
    from projections.tasks import wake

    for topic in registry.topics_of(registry.get(name)):
        for p in partitions(topic):
            wake(name, topic, p)


def real_path(name: str, events: int) -> float:
    reset(name)
    start = time.perf_counter()
    wake_all(name)
    while lag(name) > 0:
        time.sleep(0.02)
    return events / (time.perf_counter() - start)


def replay_rate(events: int) -> tuple[float, float, list[tuple[float, int]]]:
    """Events/s and seconds of a rebuild from scratch, and its progress (seconds, events)."""
    from projections import replay

    start = time.perf_counter()
    progress: list[tuple[float, int]] = [(0.0, 0)]
    total = 0

    def record(done: int, _lag: int) -> None:
        nonlocal total
        total += done
        now = time.perf_counter() - start
        if now - progress[-1][0] >= 0.25:
            progress.append((round(now, 2), total))

    replay.rebuild(PG, restart=True, progress=record, jobs=replay.default_jobs())
    seconds = time.perf_counter() - start
    progress.append((round(seconds, 2), events))
    return events / seconds, seconds, progress


def start_processes(count: int = 1, concurrency: int = 2) -> list[subprocess.Popen[bytes]]:
    """Worker processes; by default one with two pool processes, like the Procfile's. (Two of
    them, four pool processes on two cores, ran the path 40% slower.)"""
    return [common.start_worker(f"bench{i}", "projections", concurrency) for i in range(count)]


def scaling(events: int) -> dict[str, float]:
    """The Postgres projection's throughput with 1, 2 and 4 worker processes (one task each)."""
    rates = {}
    for count in (1, 2, 4):
        workers = start_processes(count, concurrency=1)
        try:
            time.sleep(3)  # the workers connect to RabbitMQ
            rates[f"path_postgres_{count}_workers"] = real_path(PG, events)
        finally:
            stop(workers)
        print(f"  {count} worker processes: {rates[f'path_postgres_{count}_workers']:.0f} events/s")
    return rates


start_relay = common.start_relay
stop = common.stop


LAG_RATES = (50, 200, 500, 1000)  # commands/s


def issuers_for(rate: float) -> int:
    """Processes issuing the commands: one can keep 200-300 appends a second on time here."""
    return max(1, int(rate) // 250)


def write_to_read_lag(
    rate: float,
    seconds: float,
    timeline: list[tuple[float, float]] | None = None,
    processes: int = 1,
) -> tuple[list[float], int]:
    """Commands at a steady rate, from `processes` processes; for each, the time from its commit
    to the read model applying it (and in `timeline`, if given, its commit time beside it).

    A sampler polls the read model's checkpoints every 2 ms and keeps what it saw (one six-row
    select: it stays out of the way of what it measures). Afterwards, where each event landed
    (partition, offset, as the relay recorded it) is looked up, and its time is the first poll
    whose checkpoint was past it. Commit times come from time.perf_counter() in each issuing
    process: CLOCK_MONOTONIC, one clock for the whole machine."""
    import bisect

    import psycopg
    from django.conf import settings

    topic = f"{settings.KAFKA_TOPIC_PREFIX}products.events"
    seen: dict[int, tuple[list[int], list[float]]] = {}  # partition -> checkpoints, times
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(dsn(), autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT partition, next_offset FROM proj_checkpoint "
                    "WHERE projection = %s AND topic = %s",
                    [PG, topic],
                ).fetchall()
                now = time.perf_counter()
                for partition, next_offset in rows:
                    offsets, times = seen.setdefault(partition, ([], []))
                    if not offsets or next_offset > offsets[-1]:
                        offsets.append(next_offset)
                        times.append(now)
                time.sleep(0.002)

    def applied(landed: dict[str, tuple[int, int]]) -> bool:
        last: dict[int, int] = {}
        for partition, offset in landed.values():
            last[partition] = max(last.get(partition, -1), offset)
        return all(
            seen.get(partition, ([], []))[0][-1:] > [offset] for partition, offset in last.items()
        )

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        committed = _issue(rate, seconds, processes)
        landed = _landed([event_id for event_id, _at in committed], timeout=60)
        deadline = time.perf_counter() + 60
        while not applied(landed) and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        sampler.join()
    lags: list[float] = []
    for event_id, committed_at in committed:
        if event_id not in landed:
            continue
        partition, offset = landed[event_id]
        offsets, times = seen.get(partition, ([], []))
        at = bisect.bisect_right(offsets, offset)
        if at < len(offsets):
            lags.append(times[at] - committed_at)
            if timeline is not None:
                timeline.append((committed_at, times[at] - committed_at))
    return lags, len(committed)


def _landed(event_ids: list[str], timeout: float) -> dict[str, tuple[int, int]]:
    """Each event's (partition, offset) in Kafka, once the relay has recorded it."""
    import psycopg

    landed: dict[str, tuple[int, int]] = {}
    deadline = time.perf_counter() + timeout
    with psycopg.connect(dsn(), autocommit=True) as conn:
        while len(landed) < len(event_ids) and time.perf_counter() < deadline:
            pending = [e for e in event_ids if e not in landed]
            for event_id, partition, offset in conn.execute(
                "SELECT e.event_id::text, p.kafka_partition, p.kafka_offset "
                "FROM es_event e JOIN es_outbox o ON o.event_position = e.position "
                "CROSS JOIN LATERAL es_outbox_position(o.id) p "
                "WHERE e.event_id = ANY(%s::uuid[]) AND p.kafka_offset IS NOT NULL",
                [pending],
            ).fetchall():
                landed[event_id] = (partition, offset)
            if len(landed) < len(event_ids):
                time.sleep(0.05)
    return landed


def _issue(rate: float, seconds: float, processes: int) -> list[tuple[str, float]]:
    """One-event commands at a steady rate, on fresh streams: (event id, commit time) each. With
    several processes, each issues every processes-th command of the one schedule."""
    run = uuid.uuid4().hex
    if processes == 1:
        return issue_share(rate, seconds, time.perf_counter(), 0, 1, run)
    import multiprocessing

    start_at = time.perf_counter() + 5.0  # the processes start Django meanwhile
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        shares = pool.starmap(
            issue_share, [(rate, seconds, start_at, i, processes, run) for i in range(processes)]
        )
    return sorted((c for share in shares for c in share), key=lambda c: c[1])


def issue_share(
    rate: float, seconds: float, start_at: float, index: int, of: int, run: str
) -> list[tuple[str, float]]:
    """Commands index, index + of, index + 2*of, ... of a schedule of `rate` a second for
    `seconds` from `start_at` (in this process, or in one of a pool's)."""
    import django
    from django.apps import apps

    if not apps.ready:  # a pool's process
        django.setup()
    from bench.projections import Counted
    from eventstore.runtime import get_store

    store = get_store()
    interval = 1.0 / rate
    committed: list[tuple[str, float]] = []
    i = index
    while (due := start_at + i * interval) - start_at < seconds:
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        result = store.append(
            f"lag-{run}-{i}", STREAM_TYPE, [Counted(amount=Decimal(1))], expected_version=0
        )
        committed.append((str(result.event_ids[-1]), time.perf_counter()))
        i += of
    return committed


def measure_lag(rate: int, seconds: float) -> dict[str, float]:
    processes = issuers_for(rate)
    lags, issued = write_to_read_lag(float(rate), seconds, processes=processes)
    figures = {
        "samples": len(lags),
        "issuing_processes": processes,
        "achieved_commands_per_s": issued / seconds,
        "not_applied_within_60s": issued - len(lags),
        "p50": percentile(lags, 0.5) * 1000,
        "p95": percentile(lags, 0.95) * 1000,
        "p99": percentile(lags, 0.99) * 1000,
    }
    print(
        f"lag at {rate} commands/s (ms): "
        + ", ".join(f"{k} {v:.1f}" for k, v in figures.items() if k != "samples")
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes (about 2 minutes)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    n = (
        dict(raw=20_000, path=20_000, replay=100_000)
        if args.quick
        else dict(raw=100_000, path=100_000, replay=1_000_000)
    )
    lag_seconds = 5.0 if args.quick else 20.0
    configure_env("bench.settings")
    sys.path.insert(0, str(ROOT))
    setup()
    from config.celery import app

    app.control.purge()  # nothing left over from an earlier run
    samples: dict[str, list[float]] = {
        k: [] for k in ("raw_postgres_upserts", "raw_redis_pipeline", "path_postgres", "path_redis")
    }
    extra: dict[str, Any] = {"quick": args.quick, "runs": args.runs}
    workers = start_processes()
    relay: subprocess.Popen[bytes] | None = None
    try:
        print(f"publishing {n['path']} events ...", flush=True)
        publish(n["path"])
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs} ...", flush=True)
            samples["raw_postgres_upserts"].append(raw_postgres(n["raw"]))
            samples["raw_redis_pipeline"].append(raw_redis(n["raw"]))
            samples["path_postgres"].append(real_path(PG, n["path"]))
            samples["path_redis"].append(real_path(REDIS, n["path"]))
        stop(workers)
        print("scaling with worker processes ...", flush=True)
        for key, rate in scaling(n["path"]).items():
            samples.setdefault(key, []).append(rate)
        workers = start_processes()
        print(f"publishing up to {n['replay']} events for the replay ...", flush=True)
        publish(n["replay"] - n["path"])
        rate, seconds, progress = replay_rate(n["replay"])
        extra["replay"] = {
            "events": n["replay"],
            "seconds": seconds,
            "events_per_s": rate,
            "progress": progress,
        }
        print(f"replay: {n['replay']} events in {seconds:.1f}s ({rate:.0f} events/s)")
        for name in (PG, REDIS):  # no backlog anywhere: measure the steady state
            wake_all(name)
        while lag(PG) + lag(REDIS) > 0:
            time.sleep(0.1)
        relay = start_relay()
        follower = common.start_follower()  # the Procfile's set: worker, follower, relay
        workers.append(follower)
        time.sleep(3)  # the relay takes its lock and LISTENs; the follower its partitions
        for rate in LAG_RATES:
            extra[f"lag_ms_at_{rate}_per_s"] = measure_lag(rate, lag_seconds)
        stop([follower])
        workers.remove(follower)
        time.sleep(3)  # its partitions' flags expire: wake-ups go to catch-up tasks again
        extra["lag_ms_at_200_per_s_without_follower"] = measure_lag(200, lag_seconds)
    finally:
        stop([*workers, *([relay] if relay else [])])
        teardown()
    figures = summarize(samples)

    med = medians(figures)
    ratios: dict[str, tuple[float | None, str]] = {
        "path_postgres / raw_postgres": (
            ratio(med("path_postgres"), med("raw_postgres_upserts")),
            "target >= 0.80",
        ),
        "path_redis / raw_redis": (
            ratio(med("path_redis"), med("raw_redis_pipeline")),
            "target >= 0.80",
        ),
        "path_postgres / 20,000 events/s": (
            ratio(med("path_postgres"), 20_000.0),
            "target >= 1.00",
        ),
        "path_redis / 20,000 events/s": (ratio(med("path_redis"), 20_000.0), "target >= 1.00"),
        "15 s / rebuild seconds for 1M events": (
            ratio(15.0, extra["replay"]["seconds"] * 1_000_000 / n["replay"]),
            f"target >= 1.00 ({n['replay']:,} events rebuilt, scaled to 1M)",
        ),
        "50 ms / p99 lag": (ratio(50.0, extra["lag_ms_at_200_per_s"]["p99"]), "target >= 1.00"),
        "25 ms / p99 lag at 500/s": (
            ratio(25.0, extra["lag_ms_at_500_per_s"]["p99"]),
            "target >= 1.00",
        ),
        "50 ms / p99 lag at 1,000/s": (
            ratio(50.0, extra["lag_ms_at_1000_per_s"]["p99"]),
            "target >= 1.00, every command applied",
        ),
        "p99 lag without / with the follower": (
            ratio(
                extra["lag_ms_at_200_per_s_without_follower"]["p99"],
                extra["lag_ms_at_200_per_s"]["p99"],
            ),
            "at 200 commands/s",
        ),
        "4 workers / 1 worker": (
            ratio(med("path_postgres_4_workers"), med("path_postgres_1_workers")),
            "scaling (2 cores here)",
        ),
    }
    report("projections", figures, ratios, "events/s", extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
