"""Reactions against the real relay, Kafka and Celery workers (with and without the follower):
a watch and a price drop committed a moment apart, in both orders, many times; and a worker
killed (-9) while it applies a reaction's batch.

The reaction decides on the facts as of its event, read from its own facts in the store's log
order: whatever the read models' lag, the watcher whose watch committed first is told exactly
once, and nobody whose watch committed after is.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from apps.notifications.aggregates import notification_id_for
from apps.products import commands as products
from apps.shared.bus import dispatch
from apps.users import commands as users
from eventstore.tokens import ConsistencyToken
from projections import reactions, registry
from projections.tasks import react
from tests.integration.projections.conftest import _purge_queues, _switches_off
from tests.support.accounts import Person, person
from tests.support.engine import (
    own_log,
    relay,
    start_follower,
    start_worker,
    stop_processes,
)
from tests.support.pg import start_relay, wait_for
from tests.support.shop import a_product

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NOTIFIER = "notifications.reactions"
ITERATIONS = 1000
WATCHERS = 20


@pytest.fixture
def own_topics() -> Iterator[str]:
    """Topics of the test's own; no task message nor wake-up flag an earlier test left."""
    _purge_queues()
    _switches_off()
    with own_log() as prefix:
        yield prefix


@dataclass(frozen=True)
class Pair:
    watcher: str
    product: str
    drop_event: str
    watch_first: bool

    @property
    def notification(self) -> str:
        return notification_id_for(self.drop_event, self.watcher, "price_drop")


@contextlib.contextmanager
def engine_running(tmp_path: Path, *, follower: bool = False) -> Iterator[None]:
    """The relay and a worker on every queue (and a follower), stopped when the block ends."""
    processes = [
        start_relay(tmp_path / "relay.log"),
        start_worker(
            tmp_path / "worker.log",
            "-c",
            "2",
            queues="default,projections,side_effects,notifications,orders",
        ),
    ]
    if follower:
        processes.append(start_follower(tmp_path / "follower.log"))
    try:
        yield
    finally:
        stop_processes(*processes, timeout=60)


def watchers(n: int) -> list[Person]:
    """People who want price drops in their inbox only (no mail to send for each)."""
    found = [person() for _ in range(n)]
    for who in found:
        dispatch(
            users.SetNotificationPreferences(
                profile_id=who.account_id, kinds=("price_drop",), channels=("inbox",)
            )
        )
    return found


def race(people: list[Person], iterations: int) -> list[Pair]:
    """Each iteration a product of its own, a watch and a price drop one right after the
    other, in alternating orders."""
    pairs = []
    for i in range(iterations):
        who = people[i % len(people)].account_id
        product = a_product(stock=0, publish=False)
        watch_first = i % 2 == 0
        if watch_first:
            dispatch(users.WatchProduct(profile_id=who, product_id=product))
        drop = dispatch(
            products.ChangePrice(product_id=product, price=Decimal("1.00"), currency="EUR")
        )
        if not watch_first:
            dispatch(users.WatchProduct(profile_id=who, product_id=product))
        event = ConsistencyToken.decode(drop.token).event_id
        pairs.append(Pair(who, product, str(event), watch_first))
    return pairs


def highest_log_position() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM es_outbox")
        return int(cur.fetchone()[0])


def wait_for_the_notifier_past(position: int, timeout: float) -> None:
    wait_for(
        f"the notifier to pass log position {position}",
        lambda: reactions.checkpoint(NOTIFIER).next_position > position,
        timeout,
    )


def price_drop_notifications() -> dict[str, int]:
    """NotificationCreated events of kind price_drop, per notification stream."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT stream_id, count(*) FROM es_event "
            "WHERE event_type = 'notifications.NotificationCreated' "
            "AND payload->>'kind' = 'price_drop' GROUP BY stream_id"
        )
        return {stream: int(n) for stream, n in cur.fetchall()}


def assert_told_exactly_the_earlier_watchers(pairs: list[Pair]) -> None:
    made = price_drop_notifications()
    first = [p for p in pairs if p.watch_first]
    missed = [p for p in first if p.notification not in made]
    extra = [p for p in pairs if not p.watch_first and p.notification in made]
    assert missed == [], f"{len(missed)} watchers who watched first were not told"
    assert extra == [], f"{len(extra)} watchers who watched after the drop were told"
    assert all(made[p.notification] == 1 for p in first)
    assert sum(made.values()) == len(first)


@pytest.mark.parametrize("follower", [False, True], ids=["tasks", "follower"])
def test_a_watch_and_a_price_drop_a_moment_apart_in_both_orders(
    own_topics: str, tmp_path: Path, follower: bool
) -> None:
    with engine_running(tmp_path, follower=follower):
        people = watchers(WATCHERS)
        pairs = race(people, ITERATIONS)
        wait_for_the_notifier_past(highest_log_position(), timeout=240)
    assert_told_exactly_the_earlier_watchers(pairs)
    assert reactions.status([registry.reaction(NOTIFIER)])[0].dead_letters == 0


def test_a_worker_killed_while_it_applies_a_reaction_decides_everything_once(
    own_topics: str, tmp_path: Path
) -> None:
    """A backlog of decisions in large batches; the worker applying them is killed (-9) at
    random moments, three times, and restarted: every decision is made, each exactly once."""
    people = watchers(10)
    pairs = race(people, 400)
    relay()
    end = highest_log_position()
    rng = random.Random(20261130)
    kills = 0
    for round_ in range(4):
        worker = start_worker(
            tmp_path / f"worker{round_}.log",
            "-c",
            "1",
            queues="projections",
            env={"PROJECTIONS_BATCH_SIZE": "500", "PROJECTIONS_TASK_SLICE": "30"},
        )
        react.delay(NOTIFIER)  # as the relay's wake-up or the periodic catch-up would
        if round_ == 3:
            try:
                wait_for_the_notifier_past(end, timeout=120)
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
            break
        started = reactions.checkpoint(NOTIFIER).next_position
        wait_for(
            "the worker to start on the reaction",
            lambda: worker_holds_the_reaction() or finished(end),
            60,
        )
        time.sleep(rng.uniform(0.05, 0.6))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        if not finished(end):
            kills += 1
        assert reactions.checkpoint(NOTIFIER).next_position >= started
    assert kills >= 1, "every kill came after the work was done: nothing was tested"
    assert_told_exactly_the_earlier_watchers(pairs)


def finished(end: int) -> bool:
    return reactions.checkpoint(NOTIFIER).next_position > end


def worker_holds_the_reaction() -> bool:
    """Whether another connection holds the reaction's advisory lock (a worker applies it)."""
    from projections import locks
    from projections.wakeups import reaction_pair

    pair = reaction_pair(NOTIFIER)
    if locks.try_lock(*pair):
        locks.unlock(*pair)
        return False
    return True


def test_a_reaction_held_back_by_an_event_no_reaction_handles_decides_once_it_commits(
    own_topics: str, tmp_path: Path
) -> None:
    """A stock delivery (an event no reaction handles) takes its log position and its
    transaction stays open for 3 s, longer than a react task waits for the log to settle;
    meanwhile a price drop of a watched product commits after it. The relay wakes the notifier
    for the drop, which stops below the open delivery. The delivery's own publication wakes no
    reaction (the relay wakes only those that handle a published type): the notifier's look
    again still tells the watcher, once."""
    import threading

    from django.db import connections, transaction

    appended, release = threading.Event(), threading.Event()

    def slow_delivery(product: str) -> None:
        try:
            with transaction.atomic():
                dispatch(products.ReceiveStock(product_id=product, quantity=5))
                appended.set()
                release.wait(30)
        finally:
            connections.close_all()

    with engine_running(tmp_path):
        who = watchers(1)[0].account_id
        product, other = a_product(stock=0, publish=False), a_product(stock=0, publish=False)
        dispatch(users.WatchProduct(profile_id=who, product_id=product))
        wait_for_the_notifier_past(highest_log_position(), timeout=60)
        thread = threading.Thread(target=slow_delivery, args=(other,))
        thread.start()
        try:
            assert appended.wait(30)
            drop = dispatch(
                products.ChangePrice(product_id=product, price=Decimal("1.00"), currency="EUR")
            )
            told = Pair(who, product, str(ConsistencyToken.decode(drop.token).event_id), True)
            time.sleep(3)
            assert told.notification not in price_drop_notifications()  # held back
        finally:
            release.set()
            thread.join(30)
        wait_for(
            "the watcher to be told",
            lambda: told.notification in price_drop_notifications(),
            timeout=15,
        )
    assert price_drop_notifications()[told.notification] == 1
