"""The live tail: followers that apply every partition as events arrive, sharing the partitions
through a Kafka consumer group.

A catch-up task per wake-up costs a RabbitMQ message, the ownership lock, a Kafka assignment and
about ten round trips, whatever it carries; at a few hundred events a second that alone keeps two
cores busy, and events queue behind it. A follower is a long-running process (`manage.py
follow_projections`, the Procfile's `follower`) whose one Kafka consumer long-polls the
partitions the group gave it and applies each batch as soon as the broker hands it over. Any
number of them run, on any hosts: the group's cooperative-sticky assignment spreads the
partitions over them, a new one takes some from the others, and one that dies (or stops
answering for PROJECTIONS_FOLLOW_SESSION_TIMEOUT_MS) leaves its partitions to the others.

Within its partitions a follower owns a (projection, topic, partition) the way a catch-up task
does: by its advisory lock in Postgres (gone with the connection if its process dies), while it
keeps the pair's "queued" flag at FOLLOWED so the relay's wake-ups enqueue nothing. A pair a
task holds, it claims first (the flag to FOLLOWED: no new task is enqueued) and takes once the
task is done. The
checkpoints stay the fence: every batch is applied only if the checkpoint is still where the
follower read it (the targets' conditional apply), so no two owners ever apply an event twice,
whatever the group believes. A follower lets go of a pair, back to the catch-up tasks, which it
wakes,
- with a backlog of more than a batch (PROJECTIONS_BATCH_SIZE): tasks spread it over processes;
- when a batch fails, or touches a parked stream: tasks isolate the poison event, with retries;
- when someone waits for its lock (locks.acquire: a rebuild, a redrive), after applying what is
  left of it; it takes the pair back when it is free and no task is queued for it;
- when the group takes the partition away (another follower gets it; the flags stay up for it);
- when it shuts down (catch-up tasks are woken for what is left).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_END, Consumer, KafkaException, Message, TopicPartition
from django.conf import settings
from django_redis import get_redis_connection

from eventstore.kafka_admin import admin_client, log_ends
from projections import locks, registry, wakeups
from projections import log as kafka_log
from projections.following import Outcome, Owned, Pair, apply_parts
from projections.runner import (
    catch_up,
    ensure_ready,
    parked_streams_of,
)
from projections.targets import next_offsets, target_for
from projections.wakeups import pending_key, wake_many

logger = logging.getLogger("projections")

POLL = 0.1  # seconds a poll waits for the broker (which answers at once when events arrive)
HAND_BACK_GRACE = 4.0  # seconds a pair handed back to the tasks stays theirs before a claim
TP = tuple[str, int]  # (topic, partition)


class Follower:
    def __init__(self, *, should_stop: Callable[[], bool] = lambda: False):
        self.should_stop = should_stop
        self.consumer: Consumer = kafka_log.group_consumer()
        self.assigned: set[TP] = set()  # what the group gave this follower
        self.owned: dict[Pair, Owned] = {}
        # What the consumer delivers next, per assigned partition; None: paused (nothing owned).
        self.position: dict[TP, int | None] = {}
        self.applied = 0
        self.handed_over = 0
        self._reassign = False
        self._handed_back: dict[Pair, float] = {}  # pair -> when this follower let go of it
        self._events = registry.event_registry()
        self._redis = get_redis_connection("default")

    # -- running ----------------------------------------------------------------------------

    def run(self) -> None:
        """Follow until `should_stop` says so (looked at every PROJECTIONS_FOLLOW_REFRESH)."""
        topics = sorted({t for p in registry.consumers().values() for t in registry.topics_of(p)})
        ending = "failure"
        try:
            self.consumer.subscribe(
                topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
            )
            self._follow()
            ending = "shutdown"
        finally:
            try:
                self._let_go_of_all(ending)
            finally:
                self.consumer.close()  # leaves the group: the others get its partitions now

    def _follow(self) -> None:
        refresh_every = settings.PROJECTIONS_FOLLOW_REFRESH
        next_refresh = 0.0
        while True:
            now = time.monotonic()
            if now >= next_refresh:
                if self.should_stop():
                    return
                self._refresh()
                next_refresh = time.monotonic() + refresh_every
            # Polled even with nothing owned: the group's callbacks run in here.
            timeout = max(0.0, min(POLL, next_refresh - now))
            messages = kafka_log.poll(self.consumer, timeout, settings.PROJECTIONS_BATCH_SIZE)
            if messages:
                self._apply(messages)

    # -- the group --------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, given: list[TopicPartition]) -> None:
        """Partitions the group gave this follower: own what of them is free, and read each
        from the lowest checkpoint of its owned pairs (one not owned at all waits, paused)."""
        tps = [(tp.topic, tp.partition) for tp in given]
        self.assigned.update(tps)
        logger.info("follower: assigned %s", _names(tps))
        given_pairs = [pair for tp in tps for pair in _pairs_on(tp)]
        busy = locks.wanted(given_pairs)
        free = [p for p in given_pairs if p not in busy]
        wakeups.hold(self._claimable(free))
        self._take(free, reposition=False)
        start = self._wanted()
        consumer.incremental_assign(
            [TopicPartition(topic, p, start.get((topic, p), OFFSET_END)) for topic, p in tps]
        )
        idle = [TopicPartition(topic, p) for topic, p in tps if (topic, p) not in start]
        if idle:
            consumer.pause(idle)
        for tp in tps:
            self.position[tp] = start.get(tp)

    def _on_revoke(self, consumer: Consumer, taken: list[TopicPartition]) -> None:
        """Partitions the group moves to another follower: let go of their pairs (their flags
        stay up for the next owner, which takes over from the checkpoints)."""
        self._release([(tp.topic, tp.partition) for tp in taken], "revoked")

    def _on_lost(self, consumer: Consumer, lost: list[TopicPartition]) -> None:
        """This follower was out of the group (it stopped answering): the others may own its
        partitions already; let go of them at once (the checkpoints fenced any late batch)."""
        self._release([(tp.topic, tp.partition) for tp in lost], "lost")

    def _release(self, tps: list[TP], why: str) -> None:
        gone = set(tps)
        pairs = [pair for pair in self.owned if pair[1:] in gone]
        for pair in pairs:
            del self.owned[pair]
        locks.unlock_many(pairs)
        locks.take_dirty_many(pairs)  # (for what this follower applied)
        self.handed_over += len(pairs)
        self.assigned -= gone
        for tp in gone:
            self.position.pop(tp, None)
        logger.info("follower: %s %s (%s pairs let go)", why, _names(tps), len(pairs))

    # -- reading ----------------------------------------------------------------------------

    def _wanted(self) -> dict[TP, int]:
        """Each assigned partition with an owned pair: the lowest checkpoint its owners have."""
        wanted: dict[TP, int] = {}
        for (_name, topic, partition), owned in self.owned.items():
            tp = (topic, partition)
            wanted[tp] = min(wanted.get(tp, owned.offset), owned.offset)
        return wanted

    def _reposition(self) -> None:
        """Read each assigned partition from where its owners are: seek back (or forward to a
        pair newly owned), pause one with no owner left, resume one that has owners again."""
        wanted = self._wanted()
        self._reassign = False
        for tp in sorted(self.assigned):
            target, current = wanted.get(tp), self.position.get(tp)
            if target == current:
                continue
            part = TopicPartition(*tp)
            if target is None:
                self.consumer.pause([part])
                self.position[tp] = None
                continue
            if current is None:
                # Resumed before the seek: a resume restarts the fetch where the pause left it.
                self.consumer.resume([part])
                self.position[tp] = -1
            try:
                self.consumer.seek(TopicPartition(*tp, target))
            except KafkaException:  # not fetching yet (just assigned): again at the next look
                self._reassign = True
                continue
            self.position[tp] = target

    # -- applying ---------------------------------------------------------------------------

    def _apply(self, messages: list[Message]) -> None:
        """Each owner of a partition applies its part of the messages (together where they
        can: following.apply_parts). (Applying
        different projections on threads of their own, so that their round trips overlap, was
        measured: no better at 200 commands/s on two cores.)"""
        by_partition: dict[tuple[str, int], list[Message]] = {}
        for msg in messages:
            by_partition.setdefault((msg.topic() or "", msg.partition() or 0), []).append(msg)
        batches: dict[tuple[str, int], list[Message]] = {}
        for tp, batch in by_partition.items():
            expected = self.position.get(tp)
            if expected is None:
                continue  # fetched before it was paused or revoked: not this follower's
            offsets = [m.offset() or 0 for m in batch]
            if offsets != list(range(expected, expected + len(batch))):
                # Not what the position should deliver (a fetch from before a seek): read
                # again from the checkpoints.
                self.position[tp] = -1
                self._reassign = True
                continue
            self.position[tp] = offsets[-1] + 1
            batches[tp] = batch
        parts = [(pair, owned) for pair, owned in self.owned.items() if pair[1:] in batches]
        if parts:
            for pair, outcome in apply_parts(parts, batches, self._events).items():
                self._settle(pair, outcome)
        if self._reassign:
            self._reposition()

    def _settle(self, pair: Pair, outcome: tuple[Outcome, int, int]) -> None:
        what, next_offset, applied = outcome
        if what is not Outcome.APPLIED:
            self._let_go(pair, what, wake=True)
            return
        self.owned[pair].offset = next_offset
        self.applied += applied

    # -- owning -----------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Keep the flags up, let go of what is wanted or lags, claim and take what is free."""
        pairs = [pair for tp in sorted(self.assigned) for pair in _pairs_on(tp)]
        wanted = locks.wanted(pairs)
        for pair in [p for p in self.owned if p in wanted]:
            self._let_go(pair, "wanted", wake=False, drain=True)
        for pair in list(self.owned):
            self._let_go_if_behind(pair)
        free = [p for p in pairs if p not in self.owned and p not in wanted]
        wakeups.hold([*self.owned, *self._claimable(free)])
        self._take(free)
        if self._reassign:
            self._reposition()

    def _claimable(self, pairs: list[Pair]) -> list[Pair]:
        """Those of `pairs` (on its partitions, not owned) to claim: their flags go to FOLLOWED
        before the follower can take them, so that the relay's wake-ups stop enqueuing catch-up
        tasks and the running one, once done, leaves the lock free. (Under a steady load a task
        is queued again after every publish, and a follower that waited for a moment with no
        task queued would wait for ever.) Not one it handed back itself within HAND_BACK_GRACE:
        that backlog or failure is the tasks' for a while."""
        now = time.monotonic()
        for pair in [p for p, at in self._handed_back.items() if now - at > HAND_BACK_GRACE]:
            del self._handed_back[pair]
        return [p for p in pairs if p not in self._handed_back]

    def _take(self, pairs: list[Pair], *, reposition: bool = True) -> None:
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
            position = self.position.get(pair[1:])
            if reposition and (position is None or position > offset):
                self._reassign = True

    def _let_go_if_behind(self, pair: Pair) -> bool:
        """A backlog of more than a batch goes to catch-up tasks, which spread it over the
        workers' processes. (The partition's end as last fetched; unknown before a first fetch,
        and then the next look finds out.)"""
        _low, high = self.consumer.get_watermark_offsets(TopicPartition(*pair[1:]), cached=True)
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
        self._handed_back[pair] = time.monotonic()
        self._reassign = True  # its partition may now be read from further on, or not at all
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
        """On shutdown the partitions go back to the tasks (the flags go; another follower
        takes them when the group gives them to it), which are woken for those with events
        left; after a failure, for all of them."""
        owned, pairs = dict(self.owned), list(self.owned)
        if not pairs:
            return
        self.owned.clear()
        self._redis.delete(*[pending_key(*pair) for pair in pairs])
        behind: set[Pair] = set(pairs)
        if ending == "shutdown":
            # Only what is behind the partition's end (looked up after the flags went: what
            # comes later wakes its task itself) goes to the tasks.
            ends = log_ends(
                admin_client(settings.KAFKA_BOOTSTRAP_SERVERS),
                sorted({(topic, partition) for _name, topic, partition in pairs}),
            )
            behind = {pair for pair in pairs if ends[pair[1:]] > owned[pair].offset}
        locks.unlock_many(pairs)
        behind |= locks.take_dirty_many(pairs)
        wake_many(sorted(behind))
        logger.debug("follower: %s partitions handed back (%s)", len(pairs), ending)


def _pairs_on(tp: TP) -> list[Pair]:
    """Every (consumer, topic, partition) to follow on a partition: one per reader of its topic."""
    topic, partition = tp
    return [(p.name, topic, partition) for p in registry.readers_of(topic)]


def _names(tps: list[TP]) -> str:
    return ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(tps)) or "nothing"


def follow(should_stop: Callable[[], bool] = lambda: False) -> Follower:
    """Follow until `should_stop` says so; the follower, for what it did."""
    follower = Follower(should_stop=should_stop)
    follower.run()
    logger.info(
        "follower: applied %s events, handed %s partitions back",
        follower.applied,
        follower.handed_over,
    )
    return follower


__all__ = ["Follower", "follow"]
