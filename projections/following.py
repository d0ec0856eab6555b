"""What the follower does with a batch the broker handed it: each owner of the partition applies
its part, through the same conditional apply as a catch-up task, and says how it went."""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import Message

from eventstore import tracing
from eventstore.events import EventEnvelope, EventRegistry
from eventstore.projection import Projection
from projections.runner import INFRASTRUCTURE_ERRORS, log_applied, relevant_envelopes
from projections.targets import Target

logger = logging.getLogger("projections")

Pair = tuple[str, str, int]  # (projection, topic, partition)


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
