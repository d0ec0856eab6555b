"""Optimistic concurrency and idempotency under real contention on Postgres."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from eventstore.idempotency import CommandResult, execute
from eventstore.repository import Repository
from eventstore.store import AppendResult, fingerprint
from tests.support.contender import contend
from tests.support.ledger import Ledger
from tests.support.pg import child_env, pg_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROCESSES, ROUNDS = 8, 50


def test_eight_processes_at_the_same_version_have_exactly_one_winner_per_round() -> None:
    stream = f"ledger-{uuid.uuid4()}"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    env = {k: v for k, v in child_env().items() if k.isupper()}
    procs = [
        ctx.Process(target=contend, args=(i, ROUNDS, stream, barrier, results, env))
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in range(PROCESSES * ROUNDS)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    by_round: dict[int, Counter[str]] = {}
    for r, _index, outcome, expected, actual, state in outcomes:
        by_round.setdefault(r, Counter())[outcome] += 1
        if outcome == "conflict":
            assert (expected, actual) == (r, r + 1), "the error must carry both versions"
            # The append's own check refuses the losers; the unique key is only its backstop.
            assert state == "ES001", f"round {r}: refused by {state}, not the version check"
    for r in range(ROUNDS):
        assert by_round[r] == Counter(win=1, conflict=PROCESSES - 1), f"round {r}: {by_round[r]}"

    with connection.cursor() as cur:
        cur.execute(
            "SELECT stream_version FROM es_event WHERE stream_id = %s ORDER BY stream_version",
            [stream],
        )
        versions = [row[0] for row in cur.fetchall()]
    assert versions == list(range(1, ROUNDS + 1)), "no gap, no repeat"
    assert pg_store().version(stream) == ROUNDS


def test_the_same_command_sent_twice_concurrently_yields_one_set_of_events() -> None:
    store = pg_store()
    repo = Repository(store, Ledger)
    stream, key = f"ledger-{uuid.uuid4()}", f"idem-{uuid.uuid4()}"
    command = ("OpenLedger", stream, "Ada", "EUR", "10.00")
    barrier = threading.Barrier(2)
    results: list[CommandResult] = []
    errors: list[BaseException] = []

    def handler() -> AppendResult:
        from datetime import UTC, datetime

        ledger = Ledger.open(stream, "Ada", "EUR", datetime.now(UTC))
        ledger.deposit(Decimal("10.00"))
        result = repo.save(ledger)
        # Hold the transaction open so the duplicate certainly arrives while it runs.
        threading.Event().wait(0.3)
        return result

    def send() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(
                execute(
                    store,
                    handler,
                    idempotency_key=key,
                    fingerprint=fingerprint(*command),
                )
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(r.replayed for r in results) == [False, True]
    first, second = results
    assert (first.stream_id, first.version, first.token) == (
        second.stream_id,
        second.version,
        second.token,
    )
    assert [e.stream_version for e in store.read(stream)] == [1, 2]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM es_idempotency WHERE key = %s", [key])
        assert cur.fetchone()[0] == 1
