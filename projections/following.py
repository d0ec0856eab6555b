"""What the follower does with what a poll of the broker handed it: each owner of a partition
applies its part, through the same conditional apply as a catch-up task, and says how it went.

The read models apply their parts together where they can, across the partitions of the poll:
the live pipelined ones in Postgres in one transaction, those in Redis in one script, the side
effects' jobs in one transaction whose tasks are sent together, each part still moving its own
checkpoint only from where its owner read it. A batch of a few events
(what a follower gets at a few hundred commands a second, spread over the topic's partitions)
cost each read model of each partition a round trip and a commit of its own whether or not it
had anything to write (a side effect's, a commit that waits for the disk and a wait for the
broker's confirm); together it is one of each per store. If the group fails (a checkpoint
moved, a handler raised), nothing of it was written and each part is applied alone, which finds
out whose it was."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from eventstore import tracing
from eventstore.events import EventEnvelope, EventRegistry
from eventstore.projection import Projection
from projections.runner import (
    INFRASTRUCTURE_ERRORS,
    log_applied,
    log_applied_together,
    relevant_envelopes,
)
from projections.targets import RedisTarget, SideEffectTarget, Target
from projections.targets import postgres_target as postgres
from projections.targets import redis_target as redis_store
from projections.targets import side_effect_target as side_effects

logger = logging.getLogger("projections")

Pair = tuple[str, str, int]  # (projection, topic, partition)
TP = tuple[str, int]  # (topic, partition)


class Outcome(enum.StrEnum):
    """How a part of a batch went; anything but APPLIED hands the pair back to the tasks (the
    value says why, in the log)."""

    APPLIED = "applied"
    OUT_OF_ORDER = "out of order"
    PARKED = "a parked stream"
    FAILED = "a failed batch"
    MOVED = "checkpoint moved"


@dataclass
class Owned:
    projection: Projection
    target: Target
    offset: int  # the checkpoint: next offset to apply
    parked: set[str] = field(default_factory=set)  # read under the lock; only shrinks meanwhile


def apply_parts(
    parts: list[tuple[Pair, Owned]],
    batches: Mapping[TP, list[Message]],
    events: EventRegistry,
) -> dict[Pair, tuple[Outcome, int, int]]:
    """Each of `parts` applies its part of its partition's batch (`batches`: what one poll
    brought, by partition), together with the others where it can: the outcome of each, as
    `apply_part` gives it."""
    outcomes: dict[Pair, tuple[Outcome, int, int]] = {}
    in_postgres: list[tuple[Pair, Owned, list[EventEnvelope], int]] = []
    in_redis: list[tuple[Pair, Owned, list[EventEnvelope], int]] = []
    jobs: list[tuple[Pair, Owned, list[EventEnvelope], int]] = []  # side effects'
    alone: list[tuple[Pair, Owned]] = []
    decoded: dict[TP, dict[int, EventEnvelope]] = {}  # each message decoded once
    for pair, owned in parts:
        together = postgres.can_apply_together(owned.target) or isinstance(
            owned.target, RedisTarget | SideEffectTarget
        )
        todo = [m for m in batches[pair[1:]] if (m.offset() or 0) >= owned.offset]
        if not together or not todo or (todo[0].offset() or 0) != owned.offset:
            alone.append((pair, owned))  # (nothing to do, or out of order: apply_part says)
            continue
        try:
            found = relevant_envelopes(
                owned.projection, todo, events, decoded.setdefault(pair[1:], {})
            )
        except Exception:  # noqa: BLE001 - not an envelope: apply_part says so, alone
            alone.append((pair, owned))
            continue
        envelopes = [env for _m, env in found]
        if any(env.stream_id in owned.parked for env in envelopes):
            outcomes[pair] = (Outcome.PARKED, 0, 0)
            continue
        group = (
            in_redis
            if isinstance(owned.target, RedisTarget)
            else jobs
            if isinstance(owned.target, SideEffectTarget)
            else in_postgres
        )
        group.append((pair, owned, envelopes, (todo[-1].offset() or 0) + 1))
    # The read models first, the side effects' jobs last: a read model's lag need not include a
    # commit that waits for the disk and the broker's confirms.
    effects_alone = [part for part in alone if isinstance(part[1].target, SideEffectTarget)]
    stages = (
        (
            [(in_postgres, _in_postgres), (in_redis, _in_redis)],
            [part for part in alone if not isinstance(part[1].target, SideEffectTarget)],
        ),
        ([(jobs, _as_jobs)], effects_alone),
    )
    for groups, one_by_one in stages:
        for group, how in groups:
            group.sort(key=lambda part: part[0])  # checkpoint rows locked in one order, always
            applied = _apply_group(group, how) if len(group) > 1 else None
            if applied is None:
                one_by_one += [(pair, owned) for pair, owned, *_ in group]
                continue
            outcomes.update(applied)
        for pair, owned in one_by_one:
            outcomes[pair] = apply_part(
                pair, owned, batches[pair[1:]], events, decoded.setdefault(pair[1:], {})
            )
    return outcomes


def _in_postgres(parts: list[Any]) -> list[str] | None:
    return [""] * len(parts) if postgres.apply_together(parts) else None


def _in_redis(parts: list[Any]) -> list[str] | None:
    return redis_store.apply_together(parts[0][0].client, parts)


def _as_jobs(parts: list[Any]) -> list[str] | None:
    return [""] * len(parts) if side_effects.apply_together(parts) else None


def _apply_group(
    group: list[tuple[Pair, Owned, list[EventEnvelope], int]],
    together: Callable[[list[Any]], list[str] | None],
) -> dict[Pair, tuple[Outcome, int, int]] | None:
    """A group's parts applied together: the outcome of each, or None if nothing was written
    (a checkpoint had moved, or something failed: each part goes alone then)."""
    started = time.perf_counter()
    parts: list[Any] = [  # (a PostgresPart, RedisPart or SideEffectPart: the group's kind)
        (owned.target, pair[1], pair[2], envelopes, owned.offset, next_offset)
        for pair, owned, envelopes, next_offset in group
    ]
    names = list(dict.fromkeys(pair[0] for pair, *_ in group))  # (one per read model)
    try:
        with tracing.events_span(
            f"apply {', '.join(names)}",
            [e.trace_context for _p, _o, envelopes, _n in group for e in envelopes],
            attributes={"projections": names, "events": sum(len(g[2]) for g in group)},
        ):
            errors = together(parts)
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - a handler failed: each part alone finds whose
        logger.info("%s: applying together failed; one by one", ", ".join(names), exc_info=True)
        return None
    if errors is None:
        return None
    outcomes: dict[Pair, tuple[Outcome, int, int]] = {}
    applied: list[tuple[str, str, int, int, list[EventEnvelope]]] = []
    for (pair, owned, envelopes, next_offset), error in zip(group, errors, strict=True):
        if error:
            logger.warning(
                "%s: batch at %s[%s]@%s failed in the follower (%s); handing it to a catch-up task",
                pair[0],
                pair[1],
                pair[2],
                owned.offset,
                error,
            )
            outcomes[pair] = (Outcome.FAILED, 0, 0)
            continue
        applied.append((*pair, owned.offset, envelopes))
        outcomes[pair] = (Outcome.APPLIED, next_offset, len(envelopes))
    log_applied_together(applied, started)
    return outcomes


def apply_part(
    pair: Pair,
    owned: Owned,
    batch: list[Message],
    events: EventRegistry,
    decoded: dict[int, EventEnvelope],
) -> tuple[Outcome, int, int]:
    """Apply `pair`'s part of `batch`: (APPLIED, next offset, events), or why not."""
    todo = [m for m in batch if (m.offset() or 0) >= owned.offset]
    if not todo:
        return Outcome.APPLIED, owned.offset, 0
    _name, topic, partition = pair
    if (todo[0].offset() or 0) != owned.offset:
        return Outcome.OUT_OF_ORDER, 0, 0  # (cannot be: assigned at the lowest checkpoint)
    next_offset = (todo[-1].offset() or 0) + 1
    started = time.perf_counter()
    try:
        envelopes = [env for _m, env in relevant_envelopes(owned.projection, todo, events, decoded)]
        if any(env.stream_id in owned.parked for env in envelopes):
            return Outcome.PARKED, 0, 0
        with tracing.events_span(
            f"apply {pair[0]}",
            [e.trace_context for e in envelopes],
            attributes={"projection": pair[0], "events": len(envelopes)},
        ):
            ok = owned.target.apply(
                topic, partition, envelopes, expected_offset=owned.offset, next_offset=next_offset
            )
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - a handler failed: the catch-up task isolates it
        logger.warning(
            "%s: batch at %s[%s]@%s failed in the follower; handing it to a catch-up task",
            pair[0],
            topic,
            partition,
            owned.offset,
            exc_info=True,
        )
        return Outcome.FAILED, 0, 0
    if not ok:  # the checkpoint moved under us: whoever moved it, tasks take it from there
        return Outcome.MOVED, 0, 0
    log_applied(pair[0], topic, partition, owned.offset, envelopes, started)
    return Outcome.APPLIED, next_offset, len(envelopes)
