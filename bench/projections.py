"""The read models the projection benchmark builds: a typical upsert per event in Postgres, and
a counter plus a leaderboard per event in Redis."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, RedisProjection, handles, handles_batch

UPSERT = (
    "INSERT INTO bench_totals (stream_id, total, events) VALUES (%s, %s, 1) "
    "ON CONFLICT (stream_id) DO UPDATE SET total = bench_totals.total + EXCLUDED.total, "
    "events = bench_totals.events + 1"
)


@dataclass(frozen=True)
class Counted:
    event_type: ClassVar[str] = "bench.Counted"
    schema_version: ClassVar[int] = 1
    amount: Decimal


class Totals(PostgresProjection):
    name = "bench.totals"
    topics = ("products",)
    tables = ("bench_totals",)
    pipelined = True
    server_binding = True  # like the raw baseline's psycopg cursor

    def setup(self, cur: Any) -> None:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS bench_totals (stream_id text PRIMARY KEY, "
            "total numeric NOT NULL, events integer NOT NULL)"
        )

    @handles_batch(Counted)
    def _counted(self, cur: Any, envelopes: list[EventEnvelope]) -> None:
        cur.executemany(UPSERT, [(e.stream_id, e.payload.amount) for e in envelopes])


class Leaderboard(RedisProjection):
    name = "bench.leaderboard"
    topics = ("products",)

    @handles(Counted)
    def _counted(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.hincrby(self.key("events"), e.stream_id, 1)
        pipe.zincrby(self.key("top"), int(e.payload.amount), e.stream_id)
