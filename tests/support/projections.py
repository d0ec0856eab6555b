"""Projections of the test ledger: one in Postgres, one in Redis. Both record, per stream, the
versions they applied, so tests can see any gap, repeat or inversion."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from django_redis import get_redis_connection

from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, RedisProjection, SideEffect, handles
from tests.support.ledger import Deposited, LedgerOpened, Withdrawn

POISON_AMOUNT = Decimal("666")


def poison_fixed() -> bool:
    """Tests flip this (in Redis, so worker processes see it) to 'deploy the fix'."""
    from django.conf import settings

    return bool(get_redis_connection("default").get(f"{settings.REDIS_KEY_PREFIX}:poison-fixed"))


def v2() -> bool:
    """'Deploy' version 2 of the projections: owners are stored in capitals."""
    from django.conf import settings

    return bool(get_redis_connection("default").get(f"{settings.REDIS_KEY_PREFIX}:ledger-v2"))


class LedgerBalances(PostgresProjection):
    name = "tests.ledger_balances"
    topics = ("accounts",)
    tables = ("test_ledger_balance",)

    def setup(self, cur: Any) -> None:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS test_ledger_balance (stream_id text PRIMARY KEY, "
            "owner text NOT NULL, balance numeric NOT NULL, versions integer[] NOT NULL)"
        )

    @handles(LedgerOpened)
    def _opened(self, cur: Any, e: EventEnvelope) -> None:
        owner = e.payload.owner.upper() if v2() else e.payload.owner
        cur.execute(
            "INSERT INTO test_ledger_balance VALUES (%s, %s, 0, ARRAY[%s])",
            [e.stream_id, owner, e.stream_version],
        )

    @handles(Deposited, Withdrawn)
    def _moved(self, cur: Any, e: EventEnvelope) -> None:
        amount = e.payload.amount
        if amount == POISON_AMOUNT and not poison_fixed():
            raise ValueError("the handler cannot digest 666")
        sign = 1 if isinstance(e.payload, Deposited) else -1
        cur.execute(
            "UPDATE test_ledger_balance SET balance = balance + %s, "
            "versions = versions || %s WHERE stream_id = %s",
            [sign * amount, e.stream_version, e.stream_id],
        )
        if cur.rowcount != 1:
            raise LookupError(f"no ledger {e.stream_id}")


class LedgerTotals(PostgresProjection):
    """Write-only, so pipelined. A deposit of 666 fails in SQL, which a pipeline reports only
    when it syncs at the end of the batch."""

    name = "tests.ledger_totals"
    topics = ("accounts",)
    tables = ("test_ledger_total",)
    pipelined = True

    def setup(self, cur: Any) -> None:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS test_ledger_total (stream_id text PRIMARY KEY, "
            "total numeric NOT NULL, events integer NOT NULL)"
        )

    @handles(LedgerOpened, Deposited)
    def _counted(self, cur: Any, e: EventEnvelope) -> None:
        amount = getattr(e.payload, "amount", Decimal(0))
        poison = amount == POISON_AMOUNT and not poison_fixed()
        cur.execute(
            "INSERT INTO test_ledger_total VALUES (%s, %s / %s, 1) ON CONFLICT (stream_id) DO "
            "UPDATE SET total = test_ledger_total.total + EXCLUDED.total, "
            "events = test_ledger_total.events + 1",
            [e.stream_id, amount, 0 if poison else 1],
        )


class LedgerRedis(RedisProjection):
    name = "tests.ledger_redis"
    topics = ("accounts",)

    @handles(LedgerOpened)
    def _opened(self, pipe: Any, e: EventEnvelope) -> None:
        owner = e.payload.owner.upper() if v2() else e.payload.owner
        pipe.hset(self.key("owner"), e.stream_id, owner)
        pipe.rpush(self.key("versions", e.stream_id), e.stream_version)

    @handles(Deposited, Withdrawn)
    def _moved(self, pipe: Any, e: EventEnvelope) -> None:
        sign = 1 if isinstance(e.payload, Deposited) else -1
        pipe.hincrby(self.key("cents"), e.stream_id, int(sign * e.payload.amount * 100))
        pipe.rpush(self.key("versions", e.stream_id), e.stream_version)


FLAKY_AMOUNT = Decimal("13")
SLOW_AMOUNT = Decimal("7")  # takes 50 ms to "send"


class DepositMail(SideEffect):
    """'Mails' each deposit: a line in a Redis list. Amount 13 fails twice (a flaky SMTP);
    amount 7 takes 50 ms."""

    name = "tests.deposit_mail"
    topics = ("accounts",)

    @staticmethod
    def outbox_key() -> str:
        from django.conf import settings

        return f"{settings.REDIS_KEY_PREFIX}:test-mail"

    @handles(Deposited)
    def _send(self, e: EventEnvelope) -> None:
        client = get_redis_connection("default")
        if e.payload.amount == FLAKY_AMOUNT:
            tries = client.incr(f"{self.outbox_key()}:tries:{e.event_id}")
            if tries <= 2:
                raise ConnectionRefusedError("SMTP server not answering")
        if e.payload.amount == SLOW_AMOUNT:
            time.sleep(0.05)
        client.rpush(self.outbox_key(), f"{e.stream_id}:{e.stream_version}:{e.event_id}")
