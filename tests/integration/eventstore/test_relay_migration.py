"""Migration 0006 moves the relay's marks off the outbox rows without losing any."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.backends.utils import CursorWrapper

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _insert_event(cur: CursorWrapper, position_hint: int) -> int:
    cur.execute(
        "INSERT INTO es_event (event_id, stream_id, stream_type, stream_version, event_type, "
        "schema_version, occurred_at, recorded_at, payload) "
        "VALUES (%s, %s, 'tests.Ledger', 1, 'tests.Opened', 1, now(), now(), '{}') "
        "RETURNING position",
        [uuid.uuid4(), f"migrated-{position_hint}-{uuid.uuid4().hex[:6]}"],
    )
    return int(cur.fetchone()[0])


def test_marks_carry_over_to_the_frontier_and_batches_and_back() -> None:
    call_command("migrate", "eventstore", "0005", verbosity=0)
    try:
        with connection.cursor() as cur:
            ids = []
            for n in range(6):
                position = _insert_event(cur, n)
                cur.execute(
                    "INSERT INTO es_outbox (event_position, topic) VALUES (%s, 't') RETURNING id",
                    [position],
                )
                ids.append(cur.fetchone()[0])
            # published: 0, 1, 3, 4 (4 is the highest); 2 committed late and is unpublished
            # below it, 5 is after it.
            for i, (partition, offset) in zip(
                (0, 1, 3, 4), ((0, 10), (1, 20), (0, 11), (1, 21)), strict=True
            ):
                cur.execute(
                    "UPDATE es_outbox SET published_at = now(), kafka_partition = %s, "
                    "kafka_offset = %s WHERE id = %s",
                    [partition, offset, ids[i]],
                )
        call_command("migrate", "eventstore", "0006", verbosity=0)
        with connection.cursor() as cur:
            cur.execute("SELECT frontier, gap_lo, gap_hi FROM es_relay_state")
            assert cur.fetchone() == (ids[4], [ids[2]], [ids[2]])
            cur.execute("SELECT es_outbox_pending()")
            assert cur.fetchone()[0] == 2  # the late one and the one after the frontier
            positions = []
            for i in ids:
                cur.execute("SELECT * FROM es_outbox_position(%s)", [i])
                positions.append(cur.fetchone())
        assert positions == [
            ("t", 0, 10),
            ("t", 1, 20),
            (None, None, None),
            ("t", 0, 11),
            ("t", 1, 21),
            (None, None, None),
        ]
        call_command("migrate", "eventstore", "0005", verbosity=0)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT published_at IS NOT NULL, kafka_partition, kafka_offset FROM es_outbox "
                "ORDER BY id"
            )
            assert cur.fetchall() == [
                (True, 0, 10),
                (True, 1, 20),
                (False, None, None),
                (True, 0, 11),
                (True, 1, 21),
                (False, None, None),
            ]
    finally:
        call_command("migrate", verbosity=0)
