"""A read model's tables are created by whichever process first needs them: several workers
starting at once must all succeed (Postgres's CREATE TABLE IF NOT EXISTS alone races in the
catalog: "type ... already exists", or a duplicate key)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from projections.targets import PostgresTarget
from tests.support.projections import LedgerBalances

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
ROUNDS = 15


def test_processes_creating_a_read_models_tables_at_once_all_succeed() -> None:
    failures: list[BaseException] = []
    for _ in range(ROUNDS):
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS test_ledger_balance")
        barrier = threading.Barrier(THREADS)

        def create(barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                PostgresTarget(LedgerBalances()).setup()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                failures.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=create) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM test_ledger_balance")
        assert cur.fetchone()[0] == 0
