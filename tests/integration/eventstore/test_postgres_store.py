"""The store contract, upcasting and immutability against the real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from eventstore.postgres import PostgresEventStore
from eventstore.repository import Repository
from tests.support.ledger import STREAM_TYPE, Deposited, Ledger, Renamed
from tests.support.pg import pg_store
from tests.support.store_contract import (
    EventStoreContract,
    InlineProjectionContract,
    RecordingProjection,
    opened,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def store_factory() -> Callable[[list[RecordingProjection]], PostgresEventStore]:
    return lambda projections: pg_store(projections)


@pytest.fixture
def store() -> PostgresEventStore:
    return pg_store()


class TestPostgresStore(EventStoreContract, InlineProjectionContract):
    pass


def test_an_old_schema_version_stored_in_postgres_is_upcast_on_read(
    store: PostgresEventStore,
) -> None:
    stream = f"ledger-{uuid.uuid4()}"
    store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
    with connection.cursor() as cur:  # a row written by an older release of the code
        cur.execute("UPDATE es_stream SET version = 2 WHERE stream_id = %s", [stream])
        cur.execute(
            "INSERT INTO es_event (event_id, stream_id, stream_type, stream_version, event_type,"
            " schema_version, occurred_at, payload) VALUES (%s, %s, %s, 2, 'tests.Renamed', 1,"
            ' now(), \'{"name": "Ada King"}\'::jsonb)',
            [uuid.uuid4(), stream, STREAM_TYPE],
        )
    events = store.read(stream)
    assert events[1].payload == Renamed(owner="Ada King", nickname=None)
    assert events[1].schema_version == 2
    assert Repository(store, Ledger).load(stream).owner == "Ada King"


def test_stored_events_can_be_neither_updated_nor_deleted(store: PostgresEventStore) -> None:
    stream = f"ledger-{uuid.uuid4()}"
    store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
    for sql in (
        "UPDATE es_event SET actor = 'x' WHERE stream_id = %s",
        "DELETE FROM es_event WHERE stream_id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql, [stream])
    assert len(store.read(stream)) == 1


def test_append_writes_one_outbox_row_per_event_to_the_module_topic(
    store: PostgresEventStore,
) -> None:
    stream = f"ledger-{uuid.uuid4()}"
    result = store.append(
        stream, STREAM_TYPE, [opened(), Deposited(amount=Decimal(1))], expected_version=0
    )
    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.event_id, o.topic, (es_outbox_position(o.id)).kafka_offset FROM es_outbox o "
            "JOIN es_event e ON e.position = o.event_position WHERE e.stream_id = %s "
            "ORDER BY o.id",
            [stream],
        )
        rows = cur.fetchall()
    assert [r[0] for r in rows] == list(result.event_ids)
    assert {r[1] for r in rows} == {store.topic_for(STREAM_TYPE)}
    assert [r[2] for r in rows] == [None, None]


def test_loading_a_10000_event_stream_reads_only_the_snapshot_and_the_tail(
    store: PostgresEventStore,
) -> None:
    repo = Repository(store, Ledger, snapshot_every=1000)
    stream = f"ledger-{uuid.uuid4()}"
    ledger = Ledger.open(stream, "Ada", "EUR", datetime(2026, 1, 1, tzinfo=UTC))
    while ledger.version < 10_000:
        for _ in range(min(500, 10_000 - ledger.version)):
            ledger.deposit(Decimal("0.01"))
        repo.save(ledger)
    for _ in range(7):
        ledger.deposit(Decimal("0.01"))
    repo.save(ledger)
    assert store.load_snapshot(stream).version == 10_000  # type: ignore[union-attr]

    # One round trip: the snapshot and the 7 events after it, never the 10,000 before.
    with CaptureQueriesContext(connection) as queries:
        loaded = repo.load(stream)
    assert len(queries.captured_queries) == 1, queries.captured_queries
    snapshot, tail = store.load_stream(stream)
    assert snapshot is not None and snapshot.version == 10_000
    assert [e.stream_version for e in tail] == list(range(10_001, 10_008))
    assert loaded.version == 10_007 and loaded.deposits == 10_006
    assert loaded.balance == Decimal("100.06")
    full = Repository(store, Ledger).load(stream)  # no snapshots: replays all 10,007
    assert full.snapshot_state() == loaded.snapshot_state()
