"""Body of one OS process in the concurrency test: append at the same version as the others."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any


def contend(
    index: int, rounds: int, stream_id: str, barrier: Any, results: Any, env: dict[str, str]
) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from eventstore.errors import ConcurrencyError
    from tests.support.ledger import STREAM_TYPE, Deposited
    from tests.support.pg import pg_store

    store = pg_store()
    store.version(stream_id)  # connect before the race starts
    try:
        for r in range(rounds):
            barrier.wait(timeout=120)
            try:
                store.append(
                    stream_id, STREAM_TYPE, [Deposited(amount=Decimal(index))], expected_version=r
                )
                results.put((r, index, "win", None, None, None))
            except ConcurrencyError as exc:
                # Which check refused it: es_append's version check (SQLSTATE ES001) or the
                # unique (stream, version) key behind it (23505).
                state = getattr(getattr(exc.__cause__, "__cause__", None), "sqlstate", None)
                results.put((r, index, "conflict", exc.expected, exc.actual, state))
    finally:
        connection.close()
