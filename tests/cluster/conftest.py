"""The cluster tests kill and restart nodes, so they run only on a cluster this run started
(`make test-cluster`): its pid files are under the cluster's stack folder. A cluster another
checkout left running on the same ports is named, with the command that stops it, rather than
found out by a missing pid file halfway through a test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.pg import ROOT

CLUSTER_DIRS = {
    "kafka": Path(os.environ.get("KAFKA_CLUSTER_STACK_DIR", ROOT / ".stack" / "cluster")),
    "rabbitmq": Path(os.environ.get("RABBITMQ_CLUSTER_STACK_DIR", ROOT / ".stack" / "cluster")),
}
FIRST_PID = {"kafka": "kafka-1.pid", "rabbitmq": "rabbitmq-1.pid"}
FIRST_PORT = {"kafka": 19092, "rabbitmq": 16672}


def foreign_owner(name: str) -> str | None:
    """The checkout whose record names the server on the cluster's first port, if any."""
    cache = Path(os.environ.get("STACK_CACHE_DIR", Path.home() / ".cache" / "cqrs-platform-stack"))
    record = cache / "owners" / f"{name}-127.0.0.1-{FIRST_PORT[name]}.json"
    try:
        return str(json.loads(record.read_text())["checkout"])
    except (OSError, ValueError, KeyError):
        return None


def alive(pid_file: Path) -> bool:
    try:
        return Path(f"/proc/{int(pid_file.read_text())}").exists()
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="session", autouse=True)
def a_cluster_of_this_run() -> None:
    for name, folder in CLUSTER_DIRS.items():
        if alive(folder / "run" / FIRST_PID[name]):
            continue
        owner = foreign_owner(name)
        by = f"the checkout {owner} started it" if owner else "no node running"
        pytest.fail(
            f"the {name} cluster on port {FIRST_PORT[name]} is not this run's own ({by}, "
            f"none of this run's under {folder}/run); the cluster tests kill its nodes, so run "
            f"them with make test-cluster, after stopping the other one (make stack-down-cluster "
            f"there, or here: make stack-down-cluster STACK_ARGS=--force)",
            pytrace=False,
        )
