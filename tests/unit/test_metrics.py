"""The metrics' moving parts that need no server: a batch observed at once equals its events
observed one by one; each service gets its own multiprocess directory (kept by its forked
children, given up at exit, cleaned when its process is gone); Celery tasks are counted by
outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from config.celery import app
from eventstore import metrics

ROOT = Path(__file__).resolve().parents[2]


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_a_batch_observed_at_once_equals_its_values_observed_one_by_one() -> None:
    values = [0.0001, 0.0005, 0.003, 0.003, 0.2, 7.0, 61.0, 0.0]
    one, many = CollectorRegistry(), CollectorRegistry()
    # (Two names: in multiprocess mode, as under pytest here, one name is one set of values.)
    by_one = Histogram("by_one_seconds", "x", ["who"], buckets=metrics.LATENCY, registry=one)
    at_once = Histogram("at_once_seconds", "x", ["who"], buckets=metrics.LATENCY, registry=many)
    for value in values:
        by_one.labels("a").observe(value)
    metrics.observe_many(at_once.labels("a"), iter(values))
    metrics.observe_many(at_once.labels("a"), [])  # an empty batch changes nothing
    renamed = {
        (n.replace("at_once", "by_one"), labels): v for (n, labels), v in samples(many).items()
    }
    assert samples(one) == renamed
    assert renamed[("by_one_seconds_count", (("who", "a"),))] == len(values)


PROBE = """
import os, sys, json
sys.argv = {argv!r}
from config.process import prepare_metrics
mine = prepare_metrics()
child = os.fork()
if child == 0:
    # A forked child (a gunicorn worker, a Celery pool process) keeps its parent's directory.
    os._exit(0 if prepare_metrics() == mine else 3)
_, status = os.waitpid(child, 0)
print(json.dumps({{"dir": str(mine), "exists": mine.is_dir(), "child": status}}))
"""


def probe(argv: list[str], **env: str) -> dict[str, Any]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "METRICS_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)],
        env={**environment, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_each_service_counts_into_its_own_directory_given_up_when_it_exits(
    tmp_path: Path,
) -> None:
    stale = tmp_path / "worker-999999999"  # a service that died without cleaning up
    stale.mkdir()
    (stale / "counter_999999999.db").write_bytes(b"old")

    worker = probe(["celery", "-A", "config", "worker"], METRICS_DIR=str(tmp_path))
    assert Path(worker["dir"]).parent == tmp_path
    assert Path(worker["dir"]).name.startswith("worker-")
    assert worker["exists"] and worker["child"] == 0
    assert not Path(worker["dir"]).exists()  # removed at exit (by the parent, not the child)
    assert not stale.exists()

    follower = probe(["manage.py", "follow_projections"], METRICS_DIR=str(tmp_path))
    assert Path(follower["dir"]).name.startswith("follower-")


def test_a_directory_given_by_hand_is_used_and_one_inherited_from_another_service_is_not(
    tmp_path: Path,
) -> None:
    given = tmp_path / "mine"
    given.mkdir()
    used = probe(["gunicorn"], PROMETHEUS_MULTIPROC_DIR=str(given), METRICS_DIR=str(tmp_path))
    assert used["dir"] == str(given) and given.exists()

    # A test (or any service) starting a worker: the worker does not write into its files.
    started = probe(
        ["celery", "worker"],
        PROMETHEUS_MULTIPROC_DIR=str(given),
        METRICS_DIR_SERVICE="tests",
        METRICS_DIR=str(tmp_path),
    )
    assert Path(started["dir"]).name.startswith("worker-")


@app.task(bind=True, name="tests.metrics.flaky", max_retries=2, default_retry_delay=0)
def flaky(self: Any, fail: bool) -> str:
    if fail:
        raise self.retry(exc=RuntimeError("down"))
    return "done"


def samples_of(child: Any) -> float:
    return float(sum(bucket.get() for bucket in child._buckets))


def test_celery_tasks_are_counted_by_outcome_with_their_runtime() -> None:
    def counts() -> dict[str, float]:
        return {
            outcome: samples_of(metrics.TASK_SECONDS.labels("tests.metrics.flaky", outcome))
            for outcome in ("succeeded", "failed", "retried")
        }

    before = counts()
    assert flaky.apply(args=(False,)).get() == "done"
    with pytest.raises(RuntimeError):
        flaky.apply(args=(True,)).get()
    after = counts()
    # Retried twice (the retries run at once in eager mode), then failed for good.
    assert after["succeeded"] - before["succeeded"] == 1
    assert after["retried"] - before["retried"] == 2
    assert after["failed"] - before["failed"] == 1
