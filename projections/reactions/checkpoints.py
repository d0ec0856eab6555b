"""Where a reaction is in the store's log (proj_reaction), and where it starts the first time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection, transaction

from eventstore.kafka_admin import topic_name
from eventstore.postgres import PostgresEventStore
from eventstore.reaction import Reaction
from eventstore.runtime import get_store
from projections import registry
from projections.targets import postgres_target
from projections.wakeups import STORE_LOG

logger = logging.getLogger("projections.reactions")


def store() -> PostgresEventStore:
    found = get_store()
    if not isinstance(found, PostgresEventStore):
        raise TypeError("reactions read the store's log: they need the Postgres event store")
    return found


def topics_of(reaction: Reaction) -> list[str]:
    return [topic_name(module) for module in reaction.topics]


@dataclass(frozen=True)
class Checkpoint:
    next_position: int
    decide_from: int


def position(name: str) -> Checkpoint | None:
    """Where the reaction is; None before it first ran. Changes nothing (for status, metrics,
    consistency waits and dry runs)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT next_position, decide_from FROM proj_reaction WHERE reaction = %s", [name]
        )
        row = cur.fetchone()
    return Checkpoint(int(row[0]), int(row[1])) if row else None


def checkpoint(name: str) -> Checkpoint:
    """Where the reaction is, starting it if it never ran (see _start): for its runner and an
    operator's reset only."""
    return position(name) or _start(name)


# The first log position of an event the reaction decides on that a Kafka consumer (read model
# or side effect) of its name had not handled: in Kafka at or past that consumer's checkpoint
# on its partition (every partition of the reaction's topics: one it never read counts from
# 0), in a side-effect job not done, or parked. (Unpublished events are past the settled
# position, which bounds it too.) The relay's batch records are read whole, once.
_FIRST_UNHANDLED = """
WITH ck AS (SELECT topic, partition, next_offset FROM proj_checkpoint WHERE projection = %(name)s)
SELECT least(
    (SELECT min(u.id) FROM es_relay_batch b
         CROSS JOIN LATERAL unnest(b.outbox_ids, b.partitions, b.offsets) AS u(id, p, off)
         LEFT JOIN ck ON ck.topic = b.topic AND ck.partition = u.p
         JOIN es_outbox o ON o.id = u.id
         JOIN es_event e ON e.position = o.event_position
     WHERE b.topic = ANY(%(topics)s) AND u.off >= coalesce(ck.next_offset, 0)
         AND e.event_type = ANY(%(deciding)s)),
    (SELECT min(o.id) FROM proj_side_effect j JOIN es_event e ON e.event_id = j.event_id
         JOIN es_outbox o ON o.event_position = e.position
     WHERE j.effect = %(name)s AND j.status <> 'done'),
    (SELECT min(o.id) FROM proj_dead_letter d JOIN es_event e ON e.event_id = d.event_id
         JOIN es_outbox o ON o.event_position = e.position
     WHERE d.projection = %(name)s AND d.topic <> %(store)s AND d.status IN ('parked', 'blocked'))
)
"""


def _start(name: str) -> Checkpoint:
    """A reaction's first checkpoint: at the start of the log, deciding from there; or, when it
    takes over from a Kafka consumer of the same name (a read model or side effect that decided,
    before reactions were their own kind), recording facts from the start but deciding only from
    the first event that consumer had not handled, so that nothing is missed. (Events past that
    one which the consumer had handled on other partitions are decided again: a decision whose
    ids derive from its event creates nothing new.) The consumer's checkpoints, pending jobs and
    dead letters are retired in the same transaction."""
    reaction = registry.reaction(name)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('proj_reaction:' || %s))", [name])
        cur.execute("SELECT 1 FROM proj_checkpoint WHERE projection = %s LIMIT 1", [name])
        decide_from = 0
        if cur.fetchone() is not None:
            cur.execute(
                _FIRST_UNHANDLED,
                {
                    "name": name,
                    "store": STORE_LOG,
                    "topics": topics_of(reaction),
                    "deciding": sorted(t for t in reaction.event_types if reaction.decides_on(t)),
                },
            )
            first = cur.fetchone()[0]
            settled = store().settled_position()
            decide_from = settled if first is None else min(int(first), settled)
            postgres_target.delete_checkpoints(cur, name)
            cur.execute(
                "DELETE FROM proj_side_effect WHERE effect = %s AND status = 'pending'", [name]
            )  # (failed ones stay, for the record; the reaction decides their events again)
            cur.execute(
                "UPDATE proj_dead_letter SET status = 'skipped', resolved_at = now(), "
                "error = error || ' (taken over by the reaction)' "
                "WHERE projection = %s AND topic <> %s AND status IN ('parked', 'blocked')",
                [name, STORE_LOG],
            )
            logger.warning(
                "%s: a reaction now; it takes over from the consumer of that name and decides "
                "from log position %s (facts from the start)",
                name,
                decide_from,
            )
        cur.execute(
            "INSERT INTO proj_reaction (reaction, next_position, decide_from, updated_at) "
            "VALUES (%s, 0, %s, now()) ON CONFLICT (reaction) DO NOTHING",
            [name, decide_from],
        )
        cur.execute(
            "SELECT next_position, decide_from FROM proj_reaction WHERE reaction = %s", [name]
        )
        row = cur.fetchone()
    return Checkpoint(int(row[0]), int(row[1]))
