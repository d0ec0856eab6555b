"""Waiting until read models have applied an event (the engine side of eventstore.consistency).

The token names an event; the relay recorded where it put that event in Kafka (partition,
offset). The read models are fresh once each one's checkpoint on that partition is past it; a
reaction (which reads the store's log) once its checkpoint is past the event's log position.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.db import connection

from eventstore.consistency import Freshness
from eventstore.tokens import ConsistencyToken, InvalidToken
from projections import reactions, registry
from projections.targets import target_for


def _position(token: ConsistencyToken) -> tuple[str, int | None, int | None, int]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT o.topic, p.kafka_partition, p.kafka_offset, o.id FROM es_event e "
            "JOIN es_outbox o ON o.event_position = e.position "
            "LEFT JOIN LATERAL es_outbox_position(o.id) p ON true "
            "WHERE e.event_id = %s AND e.stream_id = %s",
            [token.event_id, token.stream_id],
        )
        row = cur.fetchone()
    if row is None:
        raise InvalidToken("the consistency token names no stored event")
    return row[0], row[1], row[2], row[3]


def wait(token: ConsistencyToken, read_models: Sequence[str], timeout: float) -> Freshness:
    started = time.monotonic()
    deadline = started + timeout
    deciding = [registry.reaction(n) for n in read_models if n in registry.reactions()]
    targets = [target_for(registry.get(n)) for n in read_models if n not in registry.reactions()]
    delay = 0.002
    while True:
        topic, partition, offset, log_position = _position(token)
        if (
            partition is not None
            and offset is not None
            and all(
                t.next_offset(topic, partition) > offset
                for t in targets
                if topic in registry.topics_of(t.projection)
            )
            and all(
                (reactions.position(r.name) or reactions.Checkpoint(0, 0)).next_position
                > log_position
                for r in deciding
                if topic in reactions.topics_of(r)
            )
        ):
            return Freshness(True, time.monotonic() - started)
        now = time.monotonic()
        if now >= deadline:
            return Freshness(False, now - started)
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, 0.05)
