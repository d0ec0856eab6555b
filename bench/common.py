"""What every benchmark run shares: a fresh database, per-run topics, medians, a results file."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_POSTGRES_DB", "cqrs_bench")
# Inherited by the processes a benchmark spawns, so they use the same topic names.
RUN_ID = os.environ.setdefault("BENCH_RUN_ID", uuid.uuid4().hex[:6])


def configure_env(settings_module: str = "config.django.development") -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": settings_module,
            "DJANGO_DEBUG": "false",  # DEBUG keeps every query in memory
            "POSTGRES_DB": BENCH_DB,
            "KAFKA_TOPIC_PREFIX": f"bench-{RUN_ID}.",
            # A vhost of the run's own: tasks an earlier run left queued (catch-ups of its
            # topics, deleted since) would otherwise retry in this run's workers.
            "RABBITMQ_VHOST": f"bench_{RUN_ID}",
        }
    )


def _vhost(action: str) -> None:
    """Add or delete the run's RabbitMQ vhost (stack/stack.py vhost, through rabbitmqctl)."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "stack" / "stack.py"),
            "vhost",
            action,
            os.environ["RABBITMQ_VHOST"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 and action == "add":
        raise SystemExit(f"the bench's vhost could not be created:\n{done.stdout}{done.stderr}")


def dsn() -> str:
    from eventstore.runtime import postgres_dsn

    return postgres_dsn()


def setup(extra_topics: tuple[str, ...] = ()) -> None:
    """A fresh benchmark database, migrated, and this run's topics."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    main_db = make_conninfo(
        dbname=os.environ.get("POSTGRES_MAIN_DB", "cqrs"),
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=os.environ.get("POSTGRES_PORT", "5432"),
        user=os.environ.get("POSTGRES_USER", "cqrs"),
        password=os.environ.get("POSTGRES_PASSWORD", "cqrs"),
    )
    _vhost("add")
    with psycopg.connect(main_db, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from eventstore.kafka_admin import ensure_topics

    topics = dict(settings.KAFKA_TOPICS)
    for name in extra_topics:
        topics[f"{settings.KAFKA_TOPIC_PREFIX}{name}"] = topics[next(iter(topics))]
    ensure_topics(settings.KAFKA_BOOTSTRAP_SERVERS, topics)


def teardown(extra_topics: tuple[str, ...] = ()) -> None:
    from django.conf import settings

    from eventstore.kafka_admin import delete_topics

    names = [*settings.KAFKA_TOPICS, *(f"{settings.KAFKA_TOPIC_PREFIX}{n}" for n in extra_topics)]
    delete_topics(settings.KAFKA_BOOTSTRAP_SERVERS, names)
    _vhost("delete")


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        k: {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": len(v)}
        for k, v in samples.items()
        if v
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def report(
    name: str,
    figures: dict[str, dict[str, float]],
    ratios: dict[str, tuple[float | None, str]],
    unit: str,
    extra: dict[str, Any],
) -> Path:
    print(f"\n{unit:<34}{'median':>10}{'min':>10}{'max':>10}")
    for key, f in figures.items():
        print(f"{key:<34}{f['median']:>10.1f}{f['min']:>10.1f}{f['max']:>10.1f}")
    print(f"\n{'ratio':<34}{'value':>10}")
    for label, (value, note) in ratios.items():
        shown = f"{value:.2f}" if value is not None else "n/a"
        print(f"{label:<34}{shown:>10}   {note}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "unit": unit,
                "figures": figures,
                "ratios": {k: v for k, (v, _) in ratios.items()},
                "ratio_notes": {k: note for k, (_, note) in ratios.items()},
                **extra,
            },
            indent=2,
        )
    )
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


def spawn(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """A process of the system under test, logging to bench/results/<name>.log."""
    logs = ROOT / "bench" / "results"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "wb") as fh:
        return subprocess.Popen(
            argv, cwd=ROOT, env=os.environ.copy(), stdout=fh, stderr=subprocess.STDOUT
        )


def start_worker(
    name: str, queues: str, concurrency: int = 2, pool: str = "prefork"
) -> subprocess.Popen[bytes]:
    return spawn(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-P",
            pool,
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            os.environ.get("BENCH_WORKER_LOG", "WARNING"),
        ],
    )


def start_follower(name: str = "follower") -> subprocess.Popen[bytes]:
    """A follower, as the Procfile runs it (several share the partitions)."""
    return spawn(name, [sys.executable, str(ROOT / "manage.py"), "follow_projections"])


def start_relay() -> subprocess.Popen[bytes]:
    return spawn("relay", [sys.executable, str(ROOT / "manage.py"), "relay"])


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def medians(figures: dict[str, dict[str, float]]) -> Callable[[str], float | None]:
    """A figure's median by name (None when it was not measured)."""

    def median(key: str) -> float | None:
        return figures[key]["median"] if key in figures else None

    return median


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def relay_once() -> None:
    """Publish what the outbox holds, and stop."""
    from django.conf import settings

    from eventstore.relay import Relay, RelayConfig

    Relay(RelayConfig(dsn=dsn(), bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS)).run(once=True)
