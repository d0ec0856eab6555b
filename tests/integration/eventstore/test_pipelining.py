"""A transaction in one round trip (eventstore.pipelining): all of it or nothing, one sync."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import psycopg
import pytest
from psycopg import pq
from psycopg._pipeline_base import BasePipeline

from eventstore.pipelining import one_round_trip
from eventstore.runtime import postgres_dsn

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conn() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(postgres_dsn(), autocommit=True) as c:
        c.execute("CREATE TEMP TABLE t (k text PRIMARY KEY)")
        yield c


def keys(conn: psycopg.Connection[Any]) -> list[str]:
    return [row[0] for row in conn.execute("SELECT k FROM t ORDER BY k").fetchall()]


def test_the_block_commits_at_one_sync(conn: psycopg.Connection[Any]) -> None:
    syncs: list[int] = []
    enqueue = BasePipeline._enqueue_sync

    def counted(self: Any) -> None:
        syncs.append(1)
        enqueue(self)

    with (
        mock.patch.object(BasePipeline, "_enqueue_sync", counted),
        one_round_trip(conn, synchronous_commit=False),
    ):
        conn.execute("INSERT INTO t VALUES ('a')")
        conn.execute("INSERT INTO t VALUES ('b')")
    assert len(syncs) == 1  # psycopg's conn.transaction() in a pipeline: three
    assert keys(conn) == ["a", "b"]
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_failing_statement_undoes_the_statements_before_it(
    conn: psycopg.Connection[Any],
) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation), one_round_trip(conn):
        conn.execute("INSERT INTO t VALUES ('a')")
        conn.execute("INSERT INTO t VALUES ('a')")
        conn.execute("INSERT INTO t VALUES ('c')")
    assert keys(conn) == []
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_failure_in_the_block_undoes_what_it_sent(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(LookupError), one_round_trip(conn):
        conn.execute("INSERT INTO t VALUES ('a')")
        raise LookupError("a handler failed")
    assert keys(conn) == []
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_it_refuses_a_connection_inside_a_transaction(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction(), pytest.raises(RuntimeError), one_round_trip(conn):
        pass
    name = f"x{uuid.uuid4().hex[:6]}"
    with one_round_trip(conn):
        conn.execute("INSERT INTO t VALUES (%s)", [name])
    assert keys(conn) == [name]


def test_a_closed_connection_fails_as_the_server_would() -> None:
    conn = psycopg.connect(postgres_dsn(), autocommit=True)
    conn.close()
    with pytest.raises(psycopg.OperationalError), one_round_trip(conn):
        pass
