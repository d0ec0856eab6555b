"""The running system for end-to-end tests: gunicorn, a Celery worker on every queue, the
follower and the relay (as the Procfile runs them), as separate processes on this run's
database, vhost, Redis prefix and topics. Tests talk to it over HTTP only."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections import registry
from tests.support.engine import (
    followed,
    skip_earlier_events,
    start_follower,
    start_worker,
    stop_processes,
)
from tests.support.http import Http
from tests.support.pg import ROOT, child_env, start_relay, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serving(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def live_system(transactional_db: None, isolated_servers: None, tmp_path: Path) -> Iterator[Http]:
    # Earlier tests' events stay in Kafka: every consumer (the test ledgers' too, which a
    # follower would otherwise apply and count) starts after them.
    skip_earlier_events()
    port = _free_port()
    logs = tmp_path
    with open(logs / "web.log", "ab") as fh:
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:config.gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
            ],
            cwd=ROOT,
            env=child_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    ports = {name: _free_port() for name in ("worker", "follower", "relay")}
    relay = start_relay(logs / "relay.log", env={"METRICS_PORT": str(ports["relay"])})
    worker = start_worker(
        logs / "worker.log",
        "-c",
        "2",
        queues="default,projections,side_effects,notifications,orders",
        # The simulated payment provider answers over HTTP, on the webhook, as a real one would.
        env={
            "PAYMENTS_CALLBACK_URL": f"http://127.0.0.1:{port}/api/v1/payments/callback/",
            "METRICS_PORT": str(ports["worker"]),
        },
    )
    # One follower, as the Procfile runs it: it applies the tests' events (the observability
    # test follows them into it); followers sharing partitions are tested in
    # tests/integration/projections and tests/cluster.
    follower = start_follower(logs / "follower.log", env={"METRICS_PORT": str(ports["follower"])})
    processes = [web, relay, worker, follower]
    try:
        wait_for("the web server to listen", lambda: _serving(port), 60)
        # Tests start once the follower owns the partitions: before, it would take them over
        # (and their events) in the middle of a test.
        wait_for(
            "the follower to own every partition",
            lambda: all(followed(name) for name in registry.consumers()),
            60,
        )
        http = Http(f"http://127.0.0.1:{port}")
        http.metrics = {"web": f"{http.base}/metrics"} | {
            name: f"http://127.0.0.1:{p}/metrics" for name, p in ports.items()
        }
        yield http
    finally:
        stop_processes(*processes)
