"""One machine, many checkouts: a second clone of the project uses and administers the stack this
checkout's runner started (the RabbitMQ cookie lives in a per-machine folder), `status` says who
started each server, `down` from the clone leaves them up and says why, and nothing the Erlang
tools write lands in a checkout. A missing cookie is named as such, with the command that fixes it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.plugins.isolation import ISOLATED

pytestmark = pytest.mark.slow
SERVERS = ("postgres", "redis", "rabbitmq", "kafka")


def clean_env() -> dict[str, str]:
    """This environment without this run's names: the clone's tests pick their own."""
    dropped = {*ISOLATED, "PROMETHEUS_MULTIPROC_DIR", "METRICS_DIR_SERVICE", "STACK_DIR"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def stack_in(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(checkout / "stack" / "stack.py"), *args],
        cwd=checkout,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def status_of(checkout: Path) -> dict[str, list[str]]:
    lines = stack_in(checkout, "status").stdout.splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines if line.strip()}


def owner_of_the_stack() -> str:
    """Who started the running servers, as this checkout's runner sees it."""
    status = status_of(ROOT)
    assert all(status[name][1] == "up" for name in SERVERS), status
    return " ".join(status["postgres"][2:])


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A second clone of this checkout's committed state, sharing this machine's stack."""
    where = tmp_path / "second-clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(where)], check=True, timeout=120)
    return where


def no_debris(*checkouts: Path) -> None:
    for checkout in checkouts:
        assert not list(checkout.glob("erl_crash.dump")), f"a crash dump in {checkout}"


def test_a_second_clone_runs_its_tests_on_the_stack_and_does_not_stop_it(clone: Path) -> None:
    owner = owner_of_the_stack()
    seen = status_of(clone)
    for name in SERVERS:
        assert seen[name][1] == "up", seen
        if owner.startswith("managed (this checkout)"):
            assert " ".join(seen[name][2:]) == f"managed by {ROOT}", seen

    # A slice of the integration suite from the clone: its collection creates the run's own
    # RabbitMQ vhost with rabbitmqctl (the step that needed the first checkout's cookie).
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_servers.py",
            "tests/integration/test_celery_worker.py",
        ],
        cwd=clone,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout

    down = stack_in(clone, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    if owner.startswith("managed (this checkout)"):
        for name in SERVERS:
            line = next(x for x in down.stdout.splitlines() if x.startswith(f"stack: {name}:"))
            assert f"the checkout {ROOT} started it" in line, line
            assert "STACK_ARGS=--force" in line and "make stack-down" in line, line
    after = status_of(ROOT)
    assert all(after[name][1] == "up" for name in SERVERS), after
    no_debris(clone, ROOT)
    assert not (clone / ".stack" / "rabbitmq" / ".erlang.cookie").exists()


def test_a_missing_cookie_is_named_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "stack"))
    try:
        from stack_rabbitmq import RabbitMQ
    finally:
        sys.path.remove(str(ROOT / "stack"))
    cookie = RabbitMQ().cookie
    assert cookie.exists(), "the stack's RabbitMQ keeps its cookie in the per-machine folder"
    kept = tmp_path / "cookie"
    shutil.copy2(cookie, kept)
    try:
        cookie.unlink()
        failed = stack_in(ROOT, "vhost", "add", "test_no_cookie")
    finally:
        shutil.copy2(kept, cookie)
        cookie.chmod(0o400)
    said = failed.stdout.strip().splitlines()
    assert failed.returncode == 1 and len(said) == 1, failed.stdout + failed.stderr
    line = said[0]
    assert "is reachable but cannot be administered from here" in line, line
    assert "Erlang cookie" in line and str(cookie) in line, line
    assert "make stack-down" in line and "make stack-up" in line, line
    assert "not reachable" not in line
    no_debris(ROOT)
    assert stack_in(ROOT, "vhost", "delete", "test_no_cookie").returncode == 0


def test_down_leaves_a_server_another_stack_started_unless_forced(tmp_path: Path) -> None:
    """Two stack folders (as two checkouts have), one Redis on a port of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first, second = tmp_path / "first", tmp_path / "second"

    def stack_with(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "stack" / "stack.py"), *args],
            env={**clean_env(), "STACK_DIR": str(folder), "REDIS_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert stack_with(first, "up", "redis").returncode == 0
    try:
        kept = stack_with(second, "down", "redis")
        assert kept.returncode == 0 and "not stopping it" in kept.stdout, kept.stdout
        assert "up" in stack_with(second, "status", "redis").stdout.split()
        forced = stack_with(second, "down", "--force", "redis")
        assert forced.returncode == 0 and "(--force)" in forced.stdout, forced.stdout
        assert "DOWN" in stack_with(first, "status", "redis").stdout.split()
    finally:
        stack_with(first, "down", "redis")
