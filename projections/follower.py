"""The live tail: one long task that follows every partition as events arrive.

A catch-up task per wake-up costs a RabbitMQ message, the ownership lock, a Kafka assignment and
about ten round trips, whatever it carries; at a few hundred events a second that alone keeps two
cores busy, and events queue behind it. The follower is one Celery task (on its own queue,
`projections_follow`, run by its own worker process) that takes the ownership lock of every
(projection, topic, partition) it can, assigns their partitions to one Kafka consumer that
long-polls, and applies each batch as soon as the broker hands it over. While it owns a partition
it keeps the partition's "queued" flag set, so the relay's wake-ups enqueue nothing.

It is a shortcut for the steady state, never the only way: whatever it lets go of goes back to
the catch-up tasks, which it wakes. It lets go of a partition
- with a backlog of more than a batch (PROJECTIONS_BATCH_SIZE): tasks spread it over processes;
- when a batch fails, or touches a parked stream: tasks isolate the poison event, with retries;
- when someone waits for its lock (locks.acquire: a rebuild, a redrive), after applying what is
  left of it;
- when its worker shuts down (catch-up tasks are woken for what is left);
- at the end of its slice (PROJECTIONS_FOLLOW_SLICE): the next slice, enqueued then, takes over
  from the checkpoints.
Checkpoints move exactly as a task moves them (targets' conditional apply), so a follower and a
task can never apply an event twice. One follower runs at a time (a Postgres advisory lock, gone
with the connection if its process dies, like the partition locks); another one ends at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, TopicPartition
from django.conf import settings
from django_redis import get_redis_connection

from eventstore.events import EventEnvelope
from eventstore.kafka_admin import admin_client, log_ends
from projections import locks, registry, wakeups
from projections import log as kafka_log
from projections.following import Outcome, Owned, Pair, apply_part
from projections.runner import (
    catch_up,
    ensure_ready,
    parked_streams_of,
)
from projections.status import partitions
from projections.targets import next_offsets, target_for
from projections.wakeups import pending_key, wake_many

logger = logging.getLogger("projections")

FOLLOWER_LOCK: Pair = ("__follower__", "", 0)
POLL = 0.1  # seconds a poll waits for the broker (which answers at once when events arrive)


class Follower:
    def __init__(self, *, seconds: float, should_stop: Callable[[], bool] = lambda: False):
        self.seconds = seconds
        self.should_stop = should_stop
        self.owned: dict[Pair, Owned] = {}
        self.position: dict[tuple[str, int], int] = {}  # what the consumer delivers next
        self.applied = 0
        self.handed_over = 0
        self._reassign = False
        self.stopped = False
        self._events = registry.event_registry()
        self._redis = get_redis_connection("default")
        self._pairs = _all_pairs()

    # -- the slice --------------------------------------------------------------------------

    def run(self) -> bool:
        """Follow for one slice; False (at once) if another follower is running."""
        if not locks.try_lock(*FOLLOWER_LOCK):
            return False
        ending = "failure"
        try:
            # Connected before it takes anything: a first fetch must not wait for the
            # bootstrap while the relay's wake-ups are already held off.
            self.consumer().list_topics(timeout=10)
            self._follow()
            ending = "shutdown" if self.stopped else "end of slice"
        finally:
            try:
                self._let_go_of_all(ending)
            finally:
                locks.unlock(*FOLLOWER_LOCK)
                if ending == "failure":
                    kafka_log.drop_follower_consumer()
        return True

    def _follow(self) -> None:
        deadline = time.monotonic() + self.seconds
        refresh_every = settings.PROJECTIONS_FOLLOW_REFRESH
        next_refresh = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_refresh:
                if self.should_stop():
                    self.stopped = True
                    return
                self._refresh()
                next_refresh = time.monotonic() + refresh_every
            if not self.owned:
                time.sleep(max(0.0, min(next_refresh, deadline) - time.monotonic()))
                continue
            timeout = max(0.0, min(POLL, next_refresh - now))
            messages = kafka_log.poll(self.consumer(), timeout, settings.PROJECTIONS_BATCH_SIZE)
            if messages:
                self._apply(messages)

    # -- reading ----------------------------------------------------------------------------

    def consumer(self) -> Consumer:
        return kafka_log.follower_consumer()

    def _assign(self) -> None:
        """Assign every owned partition at the lowest checkpoint its owners have."""
        wanted: dict[tuple[str, int], int] = {}
        for (_name, topic, partition), owned in self.owned.items():
            tp = (topic, partition)
            wanted[tp] = min(wanted.get(tp, owned.offset), owned.offset)
        self.consumer().assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        self.position = wanted
        self._reassign = False

    # -- applying ---------------------------------------------------------------------------

    def _apply(self, messages: list[Message]) -> None:
        """Each owner of a partition applies its part of the messages, in order. (Applying
        different projections on threads of their own, so that their round trips overlap, was
        measured: no better at 200 commands/s on two cores.)"""
        by_partition: dict[tuple[str, int], list[Message]] = {}
        for msg in messages:
            by_partition.setdefault((msg.topic() or "", msg.partition() or 0), []).append(msg)
        for tp, batch in by_partition.items():
            expected = self.position.get(tp)
            offsets = [m.offset() or 0 for m in batch]
            if expected is None or offsets != list(range(expected, expected + len(batch))):
                # Not what the assignment should deliver (a fetch of an earlier assignment):
                # read again from the checkpoints.
                self._reassign = True
                continue
            self.position[tp] = offsets[-1] + 1
            decoded: dict[int, EventEnvelope] = {}
            for pair in [pair for pair in self.owned if pair[1:] == tp]:
                outcome = apply_part(pair, self.owned[pair], batch, self._events, decoded)
                self._settle(pair, outcome)
        if self._reassign:
            self._assign()

    def _settle(self, pair: Pair, outcome: tuple[Outcome, int, int]) -> None:
        what, next_offset, applied = outcome
        if what is not Outcome.APPLIED:
            self._let_go(pair, what, wake=True)
            return
        self.owned[pair].offset = next_offset
        self.applied += applied

    # -- owning -----------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Keep the flags up, let go of what is wanted or lags, take what is free."""
        wakeups.hold(list(self.owned), alive=True)
        wanted = locks.wanted(self._pairs)
        for pair in [p for p in self.owned if p in wanted]:
            self._let_go(pair, "wanted", wake=False, drain=True)
        for pair in list(self.owned):
            self._let_go_if_behind(pair)
        self._take([p for p in self._pairs if p not in self.owned and p not in wanted])
        if self._reassign:
            self._assign()

    def _take(self, pairs: list[Pair]) -> None:
        """Own whichever of `pairs` are free: a few round trips for all of them."""
        taken = locks.try_lock_many(wakeups.not_queued(pairs))
        if not taken:
            return
        wakeups.hold(taken)
        found = [registry.consumer(name) for name, _t, _p in taken]
        found_targets = [target_for(projection) for projection in found]
        for target in found_targets:
            ensure_ready(target)
        offsets = next_offsets(
            [(t, topic, p) for t, (_n, topic, p) in zip(found_targets, taken, strict=True)]
        )
        parked = parked_streams_of([t.checkpoint_name for t in found_targets])
        for pair, projection, target, offset in zip(
            taken, found, found_targets, offsets, strict=True
        ):
            self.owned[pair] = Owned(
                projection, target, offset, parked.get(target.checkpoint_name, set())
            )
            if self._let_go_if_behind(pair):
                continue
            tp = pair[1:]
            if tp not in self.position or self.position[tp] > offset:
                self._reassign = True

    def _let_go_if_behind(self, pair: Pair) -> bool:
        """A backlog of more than a batch goes to catch-up tasks, which spread it over the
        workers' processes. (The partition's end as last fetched; unknown before a first fetch,
        and then the next look finds out.)"""
        _low, high = self.consumer().get_watermark_offsets(TopicPartition(*pair[1:]), cached=True)
        if high - self.owned[pair].offset <= settings.PROJECTIONS_BATCH_SIZE:
            return False
        self._let_go(pair, "a backlog", wake=True)
        return True

    def _let_go(self, pair: Pair, why: str, *, wake: bool, drain: bool = False) -> None:
        """Hand `pair` back to the catch-up tasks. The flag goes first: a wake-up from then on
        enqueues a task, and anything published before it is in the log for the drain to find
        (or for the woken task); a task that finds the lock still held leaves the dirty mark,
        which is looked at after unlocking (locks.run_owned's protocol)."""
        owned = self.owned.pop(pair)
        self.handed_over += 1
        self._reassign = True  # its partition may now start further on, or not be needed
        logger.info("follower: %s %s[%s] handed back (%s)", *pair, why)
        name, topic, partition = pair
        self._redis.delete(pending_key(*pair))
        try:
            if drain:
                result = catch_up(
                    owned.projection,
                    owned.target,
                    topic,
                    partition,
                    registry=self._events,
                    max_seconds=settings.PROJECTIONS_TASK_SLICE,
                )
                wake = wake or not result.reached_end
        finally:
            locks.unlock(*pair)
        if locks.take_dirty(*pair) or wake:
            wakeups.wake(*pair)

    def _let_go_of_all(self, ending: str) -> None:
        """At the end of a slice the next one, enqueued right after, takes over from the
        checkpoints: the flags stay up for it (wake-ups meanwhile would only start tasks that
        race it for the locks), and expire if it does not come. On shutdown the partitions go
        back to the tasks, which are woken for those with events left; after a failure, for
        all of them."""
        owned, pairs = dict(self.owned), list(self.owned)
        if not pairs:
            return
        self.owned.clear()
        behind: set[Pair] = set()
        if ending != "end of slice":
            self._redis.delete(*[pending_key(*pair) for pair in pairs])
        if ending == "shutdown":
            # Only what is behind the partition's end (looked up after the flags went: what
            # comes later wakes its task itself) goes to the tasks.
            ends = log_ends(
                admin_client(settings.KAFKA_BOOTSTRAP_SERVERS),
                sorted({(topic, partition) for _name, topic, partition in pairs}),
            )
            behind = {pair for pair in pairs if ends[pair[1:]] > owned[pair].offset}
        locks.unlock_many(pairs)
        dirty = locks.take_dirty_many(pairs)
        if ending == "failure":
            behind = set(pairs)
        elif ending == "shutdown":
            behind |= dirty
        # (At the end of a slice, the dirty marks are for what the follower applied.)
        wake_many(sorted(behind))
        logger.debug(
            "follower: %s partitions handed back (%s; %s dirty)", len(pairs), ending, len(dirty)
        )


_pairs_cache: tuple[float, list[Pair]] = (0.0, [])
PAIRS_TTL = 60.0  # seconds: topics' partitions are looked up again after this long


def _all_pairs() -> list[Pair]:
    """Every (consumer, topic, partition) there is to follow."""
    global _pairs_cache
    looked_up, pairs = _pairs_cache
    if time.monotonic() - looked_up > PAIRS_TTL:
        pairs = [
            (p.name, topic, partition)
            for p in registry.consumers().values()
            for topic in registry.topics_of(p)
            for partition in partitions(topic)
        ]
        _pairs_cache = (time.monotonic(), pairs)
    return pairs


def follow(seconds: float | None = None, should_stop: Callable[[], bool] = lambda: False) -> bool:
    """One slice of following (PROJECTIONS_FOLLOW_SLICE seconds); False if another follower
    runs."""
    follower = Follower(
        seconds=settings.PROJECTIONS_FOLLOW_SLICE if seconds is None else seconds,
        should_stop=should_stop,
    )
    ran = follower.run()
    if ran:
        logger.info(
            "follower: applied %s events, handed %s partitions back",
            follower.applied,
            follower.handed_over,
        )
    return ran


__all__ = ["Follower", "follow"]
