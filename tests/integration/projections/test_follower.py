"""The followers, as real processes: the live tail applied as events arrive, shared by the
followers of the consumer group, and handed back to catch-up tasks when it must (a rebuild, a
follower's death, its shutdown)."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from projections import replay, shadow
from projections.status import status
from tests.integration.projections.test_reliability import wake_all
from tests.support.engine import (
    PG,
    REDIS,
    dump,
    followed,
    group_members,
    lag,
    publish,
    start_follower,
    start_worker,
    stop_processes,
)
from tests.support.pg import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def queued_catch_ups(*names: str) -> int:
    """Catch-up task messages waiting for any of `names` (taken off the queue)."""
    from config.celery import app

    found = 0
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        while (message := channel.basic_get("projections", no_ack=True)) is not None:
            found += any(repr(name) in message.headers.get("argsrepr", "") for name in names)
    return found


def expect_versions(prefix: str, streams: int, last: int) -> None:
    rows = dump(PG, prefix)
    assert len(rows) == streams and all(r[3] == list(range(1, last + 1)) for r in rows)
    versions = [v for k, v in dump(REDIS, prefix).items() if ":versions:" in k]
    assert len(versions) == streams and all(v == list(range(1, last + 1)) for v in versions)


def test_the_follower_applies_new_events_with_no_catch_up_task_and_stops_at_once(
    tmp_path: Path,
) -> None:
    """No worker consumes the catch-up queue and nothing wakes anything: the follower alone
    applies what the relay publishes; the relay's wake-ups enqueue nothing while it owns the
    partitions; SIGTERM stops it at once and hands the partitions back."""
    follower = start_follower(tmp_path / "follower.log")
    try:
        wait_for("the follower to own the partitions", lambda: followed(PG) and followed(REDIS))
        prefix = f"follow-{uuid.uuid4().hex[:8]}"
        publish(prefix, streams=10, deposits=5)
        wait_for("the follower to apply them", lambda: lag(PG) + lag(REDIS) == 0, 30)
        expect_versions(prefix, 10, 6)
        wake_all(PG, REDIS)  # what the relay's hook does after publishing
        assert queued_catch_ups(PG, REDIS) == 0, (
            "a wake-up enqueued a task for a followed partition"
        )
        started = time.monotonic()
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=30)
        assert time.monotonic() - started < 10, "the shutdown took its time"
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert not followed(PG, every=False) and not followed(REDIS, every=False)
    wake_all(PG)  # with the follower gone, wake-ups enqueue catch-up tasks again
    assert queued_catch_ups(PG) > 0


@pytest.mark.usefixtures("own_topics")
def test_a_killed_follower_leaves_its_partitions_to_catch_up_tasks(tmp_path: Path) -> None:
    """kill -9 of the follower mid-way: its locks go with its connection and its flags expire;
    catch-up tasks finish the job, and the read models equal a replay from scratch."""
    for name in (PG, REDIS):
        replay.rebuild(name, restart=True)  # live models built from offset 0, like a replay

    def applied() -> int:
        return sum(r.checkpoint for r in status([PG]))

    follower = start_follower(tmp_path / "follower.log")
    try:
        wait_for("the follower to own the partitions", lambda: followed(PG) and followed(REDIS))
        start = applied()
        prefix = f"follow-kill-{uuid.uuid4().hex[:8]}"
        publish(prefix, streams=20, deposits=100)
        wait_for("the follower to be mid-way", lambda: applied() - start > 300, 60)
    finally:
        follower.send_signal(signal.SIGKILL)
        follower.wait(timeout=30)
    assert lag(PG) + lag(REDIS) > 0, "killed too late to test anything"
    worker = start_worker(tmp_path / "worker.log", "-c", "2")
    try:
        ttl = settings.PROJECTIONS_FOLLOW_FLAG_TTL
        wait_for(
            "the dead follower's flags to expire",
            lambda: not followed(PG, every=False) and not followed(REDIS, every=False),
            ttl + 5,
        )
        wake_all(PG, REDIS)
        wait_for("catch-up tasks to finish", lambda: lag(PG) + lag(REDIS) == 0, 120)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    expect_versions(prefix, 20, 101)
    for name in (PG, REDIS):
        report = shadow.rebuild(name, restart=True, swap=False)  # a replay from scratch
        assert report.differences == 0, f"{name}: live and replayed differ"


@pytest.mark.usefixtures("own_topics")
def test_a_rebuild_takes_the_partitions_from_the_follower_which_takes_them_back(
    tmp_path: Path,
) -> None:
    """With a catch-up worker too, as the Procfile runs them: a wake-up the follower left for a
    partition it let go of is a task's to run before the follower takes the partition back."""
    worker = start_worker(tmp_path / "worker.log", "-c", "2")
    follower = start_follower(tmp_path / "follower.log")
    try:
        wait_for("the follower to own the partitions", lambda: followed(PG))
        prefix = f"follow-rebuild-{uuid.uuid4().hex[:8]}"
        publish(prefix, streams=5, deposits=3)
        wait_for("the follower to apply them", lambda: lag(PG) == 0, 30)
        # Waits for every partition's lock: without the follower letting go, it never returns
        # (the test's timeout fails it). From offset 0, through earlier tests' poison events.
        replay.rebuild(PG, restart=True)
        expect_versions(prefix, 5, 4)
        wait_for("the follower to take the partitions back", lambda: followed(PG), 30)
        publish(f"{prefix}-after", streams=5, deposits=3)
        wait_for("the follower to apply new events", lambda: lag(PG) + lag(REDIS) == 0, 30)
        expect_versions(f"{prefix}-after", 5, 4)
    finally:
        for process in (follower, worker):
            process.send_signal(signal.SIGTERM)
        for process in (follower, worker):
            process.wait(timeout=60)


def test_followers_share_the_partitions_and_one_killed_leaves_them_to_the_other(
    tmp_path: Path,
) -> None:
    """Two followers: the group splits the partitions between them (each owns the pairs of its
    own); kill -9 one, and the other owns them all within the session timeout."""
    first = start_follower(tmp_path / "first.log")
    second = start_follower(tmp_path / "second.log")
    try:
        wait_for(
            "two members with partitions each",
            lambda: len(m := group_members()) == 2 and all(m.values()),
            60,
        )
        wait_for("the followers to own every partition", lambda: followed(PG) and followed(REDIS))
        prefix = f"group-{uuid.uuid4().hex[:8]}"
        publish(prefix, streams=10, deposits=5)
        wait_for("the followers to apply them", lambda: lag(PG) + lag(REDIS) == 0, 30)
        expect_versions(prefix, 10, 6)

        second.send_signal(signal.SIGKILL)
        second.wait(timeout=30)
        killed = time.monotonic()
        wait_for("one member left with every partition", lambda: len(group_members()) == 1, 60)
        publish(f"{prefix}-after", streams=10, deposits=5)
        wait_for("the survivor to apply them", lambda: lag(PG) + lag(REDIS) == 0, 30)
        wait_for("the survivor to own every partition", lambda: followed(PG) and followed(REDIS))
        session = settings.PROJECTIONS_FOLLOW_SESSION_TIMEOUT_MS / 1000
        assert time.monotonic() - killed < session + 10
        expect_versions(f"{prefix}-after", 10, 6)
    finally:
        stop_processes(first, second)
