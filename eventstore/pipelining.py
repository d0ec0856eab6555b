"""A transaction in one round trip to Postgres.

psycopg's `conn.transaction()` inside a pipeline opens nested pipelines, each of which syncs
when it ends: a transaction so written costs three round trips to the server, not one. Here
BEGIN, the block's statements and COMMIT go out in one pipeline and are answered at its one
sync. That suits a block whose statements never need each other's results (writes, checks
that raise), such as a read model's batch with its checkpoint's move."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import pq


@contextlib.contextmanager
def one_round_trip(
    conn: psycopg.Connection[Any], *, synchronous_commit: bool = True
) -> Iterator[None]:
    """The block's statements on `conn` in one transaction, sent with its BEGIN and COMMIT in
    one pipeline. `conn` is in autocommit mode with no transaction open (as Django leaves its
    connection outside `atomic`). Any failure, in a statement (raised when the pipeline syncs)
    or in the block, rolls everything back and raises; the connection is left as it was.
    `synchronous_commit=False`: the commit does not wait for its WAL to reach the disk."""
    if conn.closed or conn.broken:
        # A server's failure, as the first statement would have raised it.
        raise psycopg.OperationalError("the connection is closed or broken")
    if not conn.autocommit or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("one_round_trip needs an autocommit connection with no transaction")
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            if not synchronous_commit:
                conn.execute("SET LOCAL synchronous_commit TO off")
            yield
            conn.execute("COMMIT")
    except BaseException:
        # A failed statement leaves the transaction aborted (the server skipped the rest,
        # COMMIT included); a failure in the block leaves it open: end it either way.
        if conn.info.transaction_status in (
            pq.TransactionStatus.INTRANS,
            pq.TransactionStatus.INERROR,
        ):
            conn.execute("ROLLBACK")
        raise
