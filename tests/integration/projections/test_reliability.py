"""Poison events, killed workers and rebuilds, with real worker processes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django_redis import get_redis_connection

from projections import registry, replay, shadow
from projections.models import DeadLetter
from projections.status import partitions, status
from projections.tasks import wake
from tests.support.engine import (
    PG,
    REDIS,
    dump,
    followed,
    lag,
    publish,
    relay,
    start_follower,
    start_worker,
)
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import ROOT, child_env, pg_store, wait_for
from tests.support.projections import POISON_AMOUNT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wake_all(*names: str) -> None:
    for name in names:
        for topic in registry.topics_of(registry.get(name)):
            for partition in partitions(topic):
                wake(name, topic, partition)


def deposit(stream: str, version: int, amount: Decimal) -> None:
    pg_store().append(stream, STREAM_TYPE, [Deposited(amount=amount)], expected_version=version)


@pytest.mark.parametrize("with_follower", [False, True], ids=["tasks", "follower"])
def test_a_poison_event_parks_only_its_stream_and_a_redrive_after_the_fix_converges(
    tmp_path: Path, with_follower: bool
) -> None:
    """With a follower too, which hands the failing partition to a catch-up task and lets go
    of it for the redrive."""
    follower = start_follower(tmp_path / "follower.log") if with_follower else None
    if follower is not None:
        wait_for("the follower to own the partitions", lambda: followed(PG))
    try:
        _poison_parks_its_stream_and_a_redrive_converges(tmp_path)
    finally:
        if follower is not None:
            follower.send_signal(signal.SIGTERM)
            follower.wait(timeout=60)


def _poison_parks_its_stream_and_a_redrive_converges(tmp_path: Path) -> None:
    prefix = f"poison-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=4, deposits=2)  # v1 opened, v2-v3 deposits
    sick = f"{prefix}-0"
    deposit(sick, 3, POISON_AMOUNT)  # v4: the handler fails on it
    deposit(sick, 4, Decimal(1))  # v5: must wait behind v4
    deposit(f"{prefix}-1", 3, Decimal(5))  # another stream goes on
    relay()
    worker = start_worker(tmp_path / "worker.log", "-c", "2")
    try:
        wake_all(PG)
        wait_for("the projection to pass the poison", lambda: lag(PG) == 0, 90)
        letters = {d.stream_version: d for d in DeadLetter.objects.filter(projection=PG)}
        assert {v: d.status for v, d in letters.items()} == {4: "parked", 5: "blocked"}
        assert "cannot digest 666" in letters[4].error and "ValueError" in letters[4].traceback
        assert letters[4].attempts == settings.PROJECTIONS_MAX_ATTEMPTS
        rows = {r[0]: r for r in dump(PG, prefix)}
        assert rows[sick][3] == [1, 2, 3], "the parked stream stops before the poison"
        assert rows[f"{prefix}-1"][3] == [1, 2, 3, 4], "other streams go on"

        deposit(sick, 5, Decimal(1))  # v6 arrives while parked: blocked too
        relay()
        wake_all(PG)
        wait_for(
            "v6 to be blocked",
            lambda: DeadLetter.objects.filter(projection=PG, stream_version=6).exists(),
            60,
        )

        get_redis_connection("default").set(f"{settings.REDIS_KEY_PREFIX}:poison-fixed", 1)
        out = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "dead_letters",
                "redrive",
                "--projection",
                PG,
            ],
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert f"{sick}: 3 applied" in out.stdout
        rows = {r[0]: r for r in dump(PG, prefix)}
        assert rows[sick][3] == [1, 2, 3, 4, 5, 6]
        assert Decimal(rows[sick][2]) == POISON_AMOUNT + 4
        assert not DeadLetter.objects.filter(projection=PG, status__in=["parked", "blocked"])

        deposit(sick, 6, Decimal(1))  # the stream flows again
        relay()
        wake_all(PG)
        wait_for(
            "the stream to flow again",
            lambda: {r[0]: r for r in dump(PG, prefix)}[sick][3][-1] == 7,
            60,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


@pytest.mark.usefixtures("own_topics")
def test_kill_9_of_a_worker_mid_batch_ends_equal_to_a_rebuild_from_scratch(
    tmp_path: Path,
) -> None:
    """Live-built read models (through a worker killed mid-batch) equal replayed ones, compared
    on a canonical dump of every table row and Redis key."""
    for name in (PG, REDIS):
        replay.rebuild(name, restart=True)  # live models built from offset 0, like a replay
    prefix = f"kill-{uuid.uuid4().hex[:8]}"
    total = publish(prefix, streams=40, deposits=400)

    def applied() -> int:
        return sum(r.checkpoint for r in status([PG]))

    start = applied()
    worker = start_worker(tmp_path / "worker1.log", "--pool", "solo")
    try:
        wake_all(PG, REDIS)
        wait_for("the worker to be mid-way", lambda: applied() - start > 2000, 120)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    assert lag(PG) + lag(REDIS) > 0, "killed too late to test anything"
    worker = start_worker(tmp_path / "worker2.log", "-c", "2")
    try:
        wake_all(PG, REDIS)  # the killed tasks are also redelivered (acks_late)
        wait_for("both projections to catch up", lambda: lag(PG) + lag(REDIS) == 0, 180)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    rows = dump(PG, prefix)
    assert len(rows) == 40 and all(r[3] == list(range(1, 402)) for r in rows)
    assert total == 40 * 401
    for name in (PG, REDIS):
        report = shadow.rebuild(name, restart=True, swap=False)  # a replay from scratch
        assert report.differences == 0, f"{name}: live and replayed differ"


def test_replay_command_names_unknown_projections_and_dry_runs_without_changes() -> None:
    prefix = f"dry-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=2, deposits=1)
    with pytest.raises(CommandError, match="no projection named 'nope'"):
        call_command("replay_projections", "nope")
    with pytest.raises(CommandError, match="--all"):
        call_command("replay_projections")
    before = status([PG])
    out = io.StringIO()
    call_command("replay_projections", PG, "--dry-run", stdout=out)
    assert f"{PG}: rebuild" in out.getvalue() and "table test_ledger_balance" in out.getvalue()
    assert status([PG]) == before


@pytest.mark.usefixtures("own_topics")
def test_a_stopped_rebuild_resumes_where_it_stopped() -> None:
    prefix = f"resume-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=30, deposits=60)
    for name in (PG, REDIS):
        replay.rebuild(name, restart=True)
    expected = {name: dump(name, prefix) for name in (PG, REDIS)}

    class Interrupted(Exception):
        pass

    steps = {"n": 0}

    def stop_after_two(_done: int, _lag: int) -> None:
        steps["n"] += 1
        if steps["n"] == 2:
            raise Interrupted

    for name in (PG, REDIS):
        steps["n"] = 0
        with pytest.raises(Interrupted):
            replay.rebuild(name, restart=True, progress=stop_after_two, batch_size=50)
        plan = replay.plan(name)
        assert plan.resuming and 0 < plan.events < sum(end for *_, end in plan.partitions)
        replay.rebuild(name)  # resumes: no restart
        assert not replay.plan(name).resuming
        assert dump(name, prefix) == expected[name]


@pytest.mark.usefixtures("own_topics")
def test_a_rebuild_in_several_processes_equals_one_in_this_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    prefix = f"jobs-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=30, deposits=40)
    pids = tmp_path / "pids"
    rebuild_partition = replay._rebuild_partition

    def recording_pid(*args: Any, **kwargs: Any) -> int:
        with pids.open("a") as fh:  # (a forked process inherits this spy)
            fh.write(f"{os.getpid()}\n")
        return rebuild_partition(*args, **kwargs)

    monkeypatch.setattr(replay, "_rebuild_partition", recording_pid)
    reports: list[tuple[int, int]] = []
    for name in (PG, REDIS):
        replay.rebuild(name, restart=True)
        expected = dump(name, prefix)
        assert len(expected) > 0
        reports.clear()
        pids.write_text("")
        replay.rebuild(
            name,
            restart=True,
            jobs=3,
            batch_size=100,
            progress=lambda d, lag: reports.append((d, lag)),
        )
        assert dump(name, prefix) == expected
        rebuilt_by = {int(pid) for pid in pids.read_text().split()}
        assert rebuilt_by and os.getpid() not in rebuilt_by, "partitions rebuilt in other processes"
        assert reports and reports[-1][1] == 0, "progress ends with no lag"
        assert sum(d for d, _ in reports) == sum(end for *_, end in replay.plan(name).partitions)
        assert not replay.plan(name).resuming
    expected = dump(PG, prefix)
    out = io.StringIO()
    call_command("replay_projections", PG, "--restart", "--jobs", "2", stdout=out)
    assert dump(PG, prefix) == expected
    assert f"{PG}: rebuilt" in out.getvalue()
    with pytest.raises(CommandError, match="--jobs must be at least 1"):
        call_command("replay_projections", PG, "--jobs", "0")
