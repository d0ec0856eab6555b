"""A canonical dump of a read model: every row of its tables, every key under its namespace,
in a stable order, so two builds can be compared (live against rebuilt, live against shadow)."""

from __future__ import annotations

import json
from collections import Counter
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
    """Each table's rows as JSON, without the surrogate keys a rebuild assigns afresh (identity
    and serial columns): two builds of the same content dump the same."""
    out: dict[str, Any] = {}
    with connection.cursor() as cur:
        for table in projection.tables:
            columns = ", ".join(f'"{c}"' for c in _content_columns(cur, schema, table))
            cur.execute(
                f'SELECT row_to_json(t)::text FROM (SELECT {columns} FROM "{schema}"."{table}") t '
                "ORDER BY 1"
            )
            out[table] = [row[0] for row in cur.fetchall()]
    return out


def _content_columns(cur: Any, schema: str, table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND is_identity = 'NO' "
        "AND coalesce(column_default, '') NOT LIKE 'nextval(%%' ORDER BY ordinal_position",
        [schema, table],
    )
    return [row[0] for row in cur.fetchall()]


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
    return len(differing(a, b, limit=None))


def differing(
    a: dict[str, Any],
    b: dict[str, Any],
    *,
    limit: int | None = 5,
    sides: tuple[str, str] = ("the first", "the second"),
) -> list[str]:
    """The rows or keys that differ, described ("<table>: only in <side>: <row>"; a row
    present twice in one and once in the other counts), at most `limit` of them."""
    found: list[str] = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        if (
            isinstance(left, list)
            and isinstance(right, list)
            and all(isinstance(x, str) for x in left + right)
        ):
            only_left, only_right = Counter(left) - Counter(right), Counter(right) - Counter(left)
            for row in sorted(only_left.elements()):
                found.append(f"{name}: only in {sides[0]}: {row}")
            for row in sorted(only_right.elements()):
                found.append(f"{name}: only in {sides[1]}: {row}")
        elif left != right:
            found.append(f"{name}: {_short(left)} != {_short(right)}")
        if limit is not None and len(found) >= limit:
            return found[:limit]
    return found


def _short(value: Any) -> str:
    text = json.dumps(value, default=_text)
    return text if len(text) <= 200 else text[:197] + "..."
