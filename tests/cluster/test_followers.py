"""Followers sharing the partitions (a Kafka consumer group, on the three-broker cluster of
`make test-cluster`), under a steady load: three followers; one killed with SIGKILL, then started
again; a fourth added. After each change the followers own every partition again, and the
write-to-read lag (the age of the oldest event a read model has not applied) is back under a
second, within 15 seconds; no event is applied twice or skipped (every stream's versions are 1..n
in order, and the read models equal a rebuild from scratch). The lag's peak after each change, and
when it was last over a second, are printed."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from projections import registry, replay, shadow
from projections.status import partitions
from projections.targets import next_offsets, target_for
from tests.support.engine import (
    PG,
    REDIS,
    dump,
    fast_forward,
    followed,
    group_members,
    lag,
    own_log,
    start_follower,
    start_worker,
    stop_processes,
)
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import consume_all, pg_store, start_relay, wait_for
from tests.support.store_contract import opened

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STREAMS = 30
RATE = 60  # appends a second (one event each)
RECOVERY = 15.0  # seconds after a change by which the followers own every partition again,
# and the lag is back under LAG
STEADY = 3.0  # seconds after RECOVERY in which the lag is watched before the next change
LAG = 1.0  # seconds


@pytest.fixture
def own_topics(isolated_servers: None) -> Iterator[str]:
    with own_log() as prefix:
        for name in (PG, REDIS):
            fast_forward(name)
        yield prefix


class Load:
    """Appends RATE events a second over STREAMS streams, from a thread; remembers when, per
    partition (the streams are opened first, and where each landed read back from Kafka)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.versions = [0] * STREAMS
        self.stop = threading.Event()
        self.failures: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.targets = [target_for(registry.get(name)) for name in (PG, REDIS)]
        self.topic = registry.topics_of(registry.get(PG))[0]
        assert registry.topics_of(registry.get(REDIS)) == [self.topic]
        self.partitions = [(self.topic, p) for p in partitions(self.topic)]
        # Per partition, when each of its events was appended (a partition's offsets are 0..n:
        # the topic is the test's own, and one thread appends).
        self.appended_at: dict[int, list[float]] = {p: [] for _t, p in self.partitions}
        self.partition_of: dict[int, int] = {}  # stream number -> partition

    def open(self) -> None:
        """Open every stream, and learn each one's partition once the relay has published it."""
        store = pg_store()
        opened_at = []
        for s in range(STREAMS):
            store.append(self.stream(s), STREAM_TYPE, [opened()], expected_version=0)
            self.versions[s] = 1
            opened_at.append(time.monotonic())
        wait_for("the openings in Kafka", lambda: len(consume_all(self.topic, 10)) == STREAMS)
        landed = {msg.key().decode(): msg.partition() for msg in consume_all(self.topic)}
        for s in range(STREAMS):
            self.partition_of[s] = landed[self.stream(s)]
            self.appended_at[self.partition_of[s]].append(opened_at[s])

    def stream(self, s: int) -> str:
        return f"{self.prefix}-{s}"

    def _run(self) -> None:
        store = pg_store()
        try:
            n = 0
            started = time.monotonic()
            while not self.stop.is_set():
                s = n % STREAMS
                store.append(
                    self.stream(s),
                    STREAM_TYPE,
                    [Deposited(amount=Decimal(1))],
                    expected_version=self.versions[s],
                )
                self.versions[s] += 1
                self.appended_at[self.partition_of[s]].append(time.monotonic())
                n += 1
                time.sleep(max(0.0, started + n / RATE - time.monotonic()))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failures.append(exc)
        finally:
            connection.close()

    def lag_seconds(self) -> float:
        """The write-to-read lag: how long ago the oldest event that one of the read models
        has not applied yet was appended (0 when all are), over every partition; one query to
        each store (the time taken before them, so the figure is never inflated)."""
        now = time.monotonic()
        wanted = [(target, topic, p) for target in self.targets for topic, p in self.partitions]
        oldest = now
        for (_target, _topic, p), applied in zip(wanted, next_offsets(wanted), strict=True):
            appended = self.appended_at[p]
            if applied < len(appended):
                oldest = min(oldest, appended[applied])
        return now - oldest


class Watch:
    """The lag, sampled every 0.2 s from a thread, for the windows after each change."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self.samples.append((time.monotonic(), self.load.lag_seconds()))
                time.sleep(0.2)
        finally:
            connection.close()

    def window(self, start: float, end: float) -> list[tuple[float, float]]:
        return [(t - start, lag) for t, lag in self.samples if start <= t < end]


def owned_by_followers() -> bool:
    return followed(PG) and followed(REDIS)


def settle(since: float) -> None:
    """Let the window after a change run its course: RECOVERY, then STEADY seconds in which
    the lag must stay under a second."""
    time.sleep(max(0.0, since + RECOVERY + STEADY - time.monotonic()))


def test_followers_share_the_load_through_kills_restarts_and_a_newcomer(
    own_topics: str, tmp_path: Path
) -> None:
    for name in (PG, REDIS):
        replay.rebuild(name, restart=True)  # live models from offset 0, like a replay
    relay = start_relay(tmp_path / "relay.log")
    worker = start_worker(tmp_path / "worker.log", "-c", "2")  # catch-up tasks, as in production
    followers = [start_follower(tmp_path / f"follower-{i}.log") for i in range(3)]
    load = Load(f"followers-{uuid.uuid4().hex[:8]}")
    watch = Watch(load)
    changes: dict[str, float] = {}
    try:
        wait_for(
            "three members with partitions each",
            lambda: len(m := group_members()) == 3 and all(m.values()),
            60,
        )
        wait_for("the followers to own every partition", lambda: followed(PG) and followed(REDIS))
        load.open()
        load.thread.start()
        watch.thread.start()
        time.sleep(5)
        changes["before any change"] = time.monotonic() - 4

        followers[1].send_signal(signal.SIGKILL)
        followers[1].wait(timeout=30)
        changes["kill -9 of one of three"] = time.monotonic()
        session = settings.PROJECTIONS_FOLLOW_SESSION_TIMEOUT_MS / 1000
        wait_for("the group to drop the killed one", lambda: len(group_members()) == 2, session + 9)
        wait_for("the other two to own every partition", owned_by_followers, RECOVERY)
        settle(changes["kill -9 of one of three"])

        followers[1] = start_follower(tmp_path / "follower-1-again.log", skip=False)
        changes["the killed one started again"] = time.monotonic()
        wait_for("three members again", lambda: len(group_members()) == 3, 60)
        wait_for("the three to own every partition", owned_by_followers, RECOVERY)
        settle(changes["the killed one started again"])

        followers.append(start_follower(tmp_path / "follower-3.log", skip=False))
        changes["a fourth added"] = time.monotonic()
        wait_for(
            "four members, each with partitions",
            lambda: len(m := group_members()) == 4 and all(m.values()),
            60,
        )
        wait_for("the four to own every partition", owned_by_followers, RECOVERY)
        settle(changes["a fourth added"])
        changes["end"] = time.monotonic()
    finally:
        load.stop.set()
        load.thread.join(timeout=30)
        watch.stop.set()
        watch.thread.join(timeout=30)
    try:
        assert not load.failures, load.failures[:3]
        wait_for("every event applied", lambda: lag(PG) + lag(REDIS) == 0, 60)
    finally:
        stop_processes(*followers, worker, relay)

    # The lag after each change: its peak, and when it was last over a second; from RECOVERY
    # on it stays under one.
    after = {}
    steady: dict[str, list[float]] = {}
    names = list(changes)
    for name, start, end in zip(
        names, [changes[n] for n in names], [changes[n] for n in names[1:]], strict=False
    ):
        window = watch.window(start, end)
        assert window, name
        over = [t for t, lag in window if lag >= LAG]
        after[name] = {
            "peak lag (s)": round(max(lag for _t, lag in window), 2),
            "last over 1 s at (s)": round(max(over), 1) if over else None,
        }
        if name != "before any change":
            steady[name] = [lag for t, lag in window if t >= RECOVERY]
    print("\nfollowers, the lag after each change:", after)
    for name, lags in steady.items():
        assert len(lags) >= 5, f"{name}: {len(lags)} samples after {RECOVERY} s"
        assert max(lags) < LAG, f"{name}: the lag was still {max(lags):.2f} s after {RECOVERY} s"

    # No event twice, none skipped, each stream in order: versions 1..n, as appended.
    expected = {load.stream(s): list(range(1, load.versions[s] + 1)) for s in range(STREAMS)}
    assert {row[0]: row[3] for row in dump(PG, load.prefix)} == expected
    in_redis = {
        key.rsplit(":versions:", 1)[1]: versions
        for key, versions in dump(REDIS, load.prefix).items()
        if ":versions:" in key
    }
    assert in_redis == expected
    for name in (PG, REDIS):
        report = shadow.rebuild(name, restart=True, swap=False)  # a replay from scratch
        assert report.differences == 0, f"{name}: live and replayed differ"
