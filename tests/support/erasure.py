"""Scans for personal data: every row of every table, every Redis key and value, every Kafka
message of this run, searched for given strings (case-insensitive)."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from tests.support.pg import consume_all


def find_everywhere(secrets: Sequence[str], *, include_kafka: bool = True) -> list[str]:
    """Where any of `secrets` appears: 'postgres:<table>', 'redis:<key>', 'kafka:<topic>'."""
    needles = [s.lower() for s in secrets]
    return [*_postgres(needles), *_redis(needles), *(_kafka(needles) if include_kafka else [])]


def _postgres(needles: list[str]) -> list[str]:
    found = []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        for schema, table in cur.fetchall():
            condition = " OR ".join(["position(%s in lower(t::text)) > 0"] * len(needles))
            cur.execute(f'SELECT count(*) FROM "{schema}"."{table}" t WHERE {condition}', needles)  # noqa: S608
            if cur.fetchone()[0]:
                found.append(f"postgres:{schema}.{table}")
    return found


def _redis(needles: list[str]) -> list[str]:
    client = get_redis_connection("default")
    found = []
    for raw_key in client.scan_iter(count=1000):
        kind = client.type(raw_key).decode()
        values: list[bytes] = [raw_key]
        if kind == "string":
            values.append(client.get(raw_key) or b"")
        elif kind == "hash":
            for k, v in client.hgetall(raw_key).items():
                values += [k, v]
        elif kind == "list":
            values += client.lrange(raw_key, 0, -1)
        elif kind == "set":
            values += list(client.smembers(raw_key))
        elif kind == "zset":
            values += [m for m, _ in client.zrange(raw_key, 0, -1, withscores=True)]
        text = b"\n".join(values).decode(errors="replace").lower()
        if any(n in text for n in needles):
            found.append(f"redis:{raw_key.decode(errors='replace')}")
    return found


def _kafka(needles: list[str]) -> list[str]:
    found = []
    for topic in settings.KAFKA_TOPICS:
        for msg in consume_all(topic):
            text = (msg.value() or b"").decode(errors="replace").lower()
            headers = " ".join(f"{k}={v!r}" for k, v in (msg.headers() or [])).lower()
            if any(n in text or n in headers for n in needles):
                found.append(f"kafka:{topic}@{msg.partition()}:{msg.offset()}")
    return found
