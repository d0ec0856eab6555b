"""What an operator does with a reaction: where an event is in the log, what a reset would
decide again or skip, the reset itself, and each reaction's status."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction

from eventstore.reaction import Reaction
from projections.reactions.checkpoints import Checkpoint, checkpoint, position, store, topics_of


def position_of_event(event_id: uuid.UUID) -> int | None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT o.id FROM es_outbox o JOIN es_event e ON e.position = o.event_position "
            "WHERE e.event_id = %s",
            [event_id],
        )
        row = cur.fetchone()
    return int(row[0]) if row else None


def decisions_between(reaction: Reaction, start: int, stop: int) -> dict[str, int]:
    """How many events in [start, stop) the reaction decides on, per event type."""
    if stop <= start:
        return {}
    deciding = sorted(t for t in reaction.event_types if reaction.decides_on(t))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.event_type, count(*) FROM es_outbox o "
            "JOIN es_event e ON e.position = o.event_position "
            "WHERE o.id >= %s AND o.id < %s AND o.topic = ANY(%s) AND e.event_type = ANY(%s) "
            "GROUP BY 1 ORDER BY 1",
            [start, stop, topics_of(reaction), deciding],
        )
        return {event_type: int(n) for event_type, n in cur.fetchall()}


@dataclass(frozen=True)
class ResetPlan:
    reaction: str
    current: int
    to: int
    settled: int
    redecide: dict[str, int] = field(default_factory=dict)  # decided again: [to, current)
    skip: dict[str, int] = field(default_factory=dict)  # never decided: [current, to)

    def describe(self) -> list[str]:
        def counts(by_type: dict[str, int]) -> str:
            total = sum(by_type.values())
            detail = ", ".join(f"{n} {t}" for t, n in by_type.items())
            return f"{total} events" + (f" ({detail})" if detail else "")

        lines = [
            f"{self.reaction}: at log position {self.current} (settled up to "
            f"{self.settled}); reset to {self.to}"
        ]
        if self.to < self.current:
            lines.append(
                f"  decides again on {counts(self.redecide)} between {self.to} and "
                f"{self.current}; decisions already made create nothing new (their ids derive "
                "from the triggering event), facts are not recorded twice"
            )
        elif self.to > self.current:
            lines.append(
                f"  skips deciding on {counts(self.skip)} between {self.current} and "
                f"{self.to}; their facts are still recorded"
            )
        else:
            lines.append("  nothing to do: it is there already")
        return lines


def plan_reset(reaction: Reaction, to: int) -> ResetPlan:
    at = position(reaction.name) or Checkpoint(0, 0)
    current = max(at.next_position, at.decide_from)
    return ResetPlan(
        reaction=reaction.name,
        current=current,
        to=to,
        settled=store().settled_position(),
        redecide=decisions_between(reaction, to, current),
        skip=decisions_between(reaction, current, to),
    )


def reset(reaction: Reaction, to: int) -> ResetPlan:
    """Decide again from `to` (behind the checkpoint), or skip deciding up to `to` (ahead of
    it). The caller holds the reaction's lock."""
    checkpoint(reaction.name)  # started (a takeover settles where it decides from) first
    plan = plan_reset(reaction, to)
    with transaction.atomic(), connection.cursor() as cur:
        if to < plan.current:
            cur.execute(
                "UPDATE proj_reaction SET next_position = least(next_position, %s), "
                "decide_from = %s, updated_at = now() WHERE reaction = %s",
                [to, to, reaction.name],
            )
        elif to > plan.current:
            cur.execute(
                "UPDATE proj_reaction SET decide_from = %s, updated_at = now() WHERE reaction = %s",
                [to, reaction.name],
            )
    return plan


@dataclass(frozen=True)
class ReactionStatus:
    reaction: str
    next_position: int
    decide_from: int
    settled: int
    lag: int  # events of its topics and types in [next_position, settled)
    dead_letters: int
    last_error: str


def events_between(reaction: Reaction, start: int, stop: int) -> int:
    """How many events of the reaction's topics and types lie at log positions [start, stop)."""
    if stop <= start:
        return 0
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM es_outbox o JOIN es_event e ON e.position = o.event_position "
            "WHERE o.id >= %s AND o.id < %s AND o.topic = ANY(%s) AND e.event_type = ANY(%s)",
            [start, stop, topics_of(reaction), sorted(reaction.event_types)],
        )
        return int(cur.fetchone()[0])


def status(reactions: Sequence[Reaction]) -> list[ReactionStatus]:
    if not reactions:
        return []
    settled = store().settled_position()
    rows = []
    for reaction in reactions:
        at = position(reaction.name) or Checkpoint(0, 0)
        lag = events_between(reaction, at.next_position, settled)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*), max(error) FILTER (WHERE status = 'parked') "
                "FROM proj_dead_letter WHERE projection = %s AND status IN ('parked', 'blocked')",
                [reaction.name],
            )
            dead, error = cur.fetchone()
        rows.append(
            ReactionStatus(
                reaction.name, at.next_position, at.decide_from, settled, lag, dead, error or ""
            )
        )
    return rows
