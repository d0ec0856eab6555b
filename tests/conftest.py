"""Shared fixtures. Tests under integration/ and e2e/ need the real servers (see stack/)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER_DIRS = ("integration", "e2e", "browser", "cluster")


def needs_servers(item: pytest.Item) -> bool:
    parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
    return bool(parts) and parts[0] in SERVER_DIRS


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop at once, in one line per server, when a server the selected tests need is down."""
    if not any(needs_servers(item) for item in session.items):
        return
    from django.conf import settings

    from config.health import ADDRESSES, START_HINT, check_all

    down = {name: reason for name, reason in check_all(timeout=3).items() if reason}
    if list(down) == ["rabbitmq"] and "vhost" in str(down["rabbitmq"]):
        # Up, but this run's vhost does not exist yet: create it (rabbitmqctl) and look again.
        created = stack("vhost", "add", settings.RABBITMQ_VHOST, check=False)
        down = {name: reason for name, reason in check_all(timeout=3).items() if reason}
        if down and created.returncode != 0:
            # Reachable, but not administrable from here: the stack runner's line says why.
            said = (created.stdout.strip() or created.stderr.strip()).splitlines()
            cause = said[-1].removeprefix("stack: error: ") if said else "no reason given"
            pytest.exit(
                f"rabbitmq: this run's vhost {settings.RABBITMQ_VHOST} could not be created: "
                f"{cause}",
                returncode=3,
            )
    if down:
        lines = [
            f"{name} is not reachable at {ADDRESSES[name]()} ({reason}); "
            f"start it with: {START_HINT}"
            for name, reason in down.items()
        ]
        pytest.exit("\n".join(lines), returncode=3)


def stack(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the stack runner (stack/stack.py) with this run's environment."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stack" / "stack.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"stack {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def isolated_servers() -> Iterator[None]:
    """This run's Kafka topics (its vhost is made at collection); both removed at the end."""
    from django.conf import settings

    from eventstore.kafka_admin import delete_topics, ensure_topics

    ensure_topics(settings.KAFKA_BOOTSTRAP_SERVERS, settings.KAFKA_TOPICS)
    yield
    if os.environ.get("KEEP_TEST_SERVERS_STATE"):
        return
    delete_topics(settings.KAFKA_BOOTSTRAP_SERVERS, list(settings.KAFKA_TOPICS))
    stack("vhost", "delete", settings.RABBITMQ_VHOST, check=False)
    from django_redis import get_redis_connection

    conn = get_redis_connection("default")
    for key in conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
        conn.delete(key)
