"""A canonical dump of a read model: every row of its tables, every key under its namespace,
in a stable order, so two builds can be compared (live against rebuilt, live against shadow)."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django_redis import get_redis_connection

from eventstore.projection import PostgresProjection, Projection, RedisProjection
from projections.targets import redis_namespace

INTERNAL_KEYS = ("__checkpoint__", "__redriven__")


def dump(
    projection: Projection, *, schema: str | None = None, namespace: str | None = None
) -> dict[str, Any]:
    if isinstance(projection, PostgresProjection):
        return _dump_tables(projection, schema or _current_schema())
    if isinstance(projection, RedisProjection):
        return _dump_keys(namespace or redis_namespace(projection.name))
    raise TypeError(f"{projection.name} has no read model to dump")


def _current_schema() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT current_schema()")
        return str(cur.fetchone()[0])


def _dump_tables(projection: PostgresProjection, schema: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with connection.cursor() as cur:
        for table in projection.tables:
            cur.execute(f'SELECT row_to_json(t)::text FROM "{schema}"."{table}" t ORDER BY 1')
            out[table] = [row[0] for row in cur.fetchall()]
    return out


def _dump_keys(namespace: str) -> dict[str, Any]:
    client = get_redis_connection("default")
    out: dict[str, Any] = {}
    for raw in client.scan_iter(match=f"{namespace}:*", count=1000):
        key = raw.decode()
        relative = key[len(namespace) + 1 :]
        if relative.startswith(INTERNAL_KEYS):
            continue
        kind = client.type(raw).decode()
        value: Any
        if kind == "string":
            value = client.get(raw)
        elif kind == "hash":
            value = sorted(client.hgetall(raw).items())
        elif kind == "list":
            value = client.lrange(raw, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(raw))
        elif kind == "zset":
            value = client.zrange(raw, 0, -1, withscores=True)
        else:
            value = f"<{kind}>"
        out[relative] = json.loads(json.dumps(value, default=_text))
    return dict(sorted(out.items()))


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else str(value)


def differences(a: dict[str, Any], b: dict[str, Any]) -> int:
    """How many rows or keys differ between two dumps."""
    count = 0
    for name in set(a) | set(b):
        left, right = a.get(name), b.get(name)
        if (
            isinstance(left, list)
            and isinstance(right, list)
            and name in a
            and name in b
            and all(isinstance(x, str) for x in left + right)
        ):
            count += len(set(left) ^ set(right))
        elif left != right:
            count += 1
    return count
