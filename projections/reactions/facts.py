"""A reaction's facts (eventstore.reaction.Facts) in proj_fact, as of one log position."""

from __future__ import annotations

import json
from typing import Any


class PostgresFacts:
    """`eventstore.reaction.Facts` in proj_fact, as of one log position, in the caller's
    transaction."""

    _AS_OF = "valid_from < %s AND (valid_to IS NULL OR valid_to >= %s)"

    def __init__(self, cur: Any, reaction: str, position: int) -> None:
        self.cur, self.reaction, self.position = cur, reaction, position

    def put(self, scope: str, subject: str, key: str = "", value: Any = True) -> None:
        self.cur.execute(
            "SELECT proj_fact_put(%s, %s, %s, %s, %s::jsonb, %s)",
            [self.reaction, scope, subject, key, json.dumps(value), self.position],
        )

    def drop(self, scope: str, subject: str, key: str = "") -> None:
        self.cur.execute(
            "SELECT proj_fact_drop(%s, %s, %s, %s, %s)",
            [self.reaction, scope, subject, key, self.position],
        )

    def forget(self, ident: str) -> None:
        self.cur.execute(
            "SELECT proj_fact_forget(%s, %s, %s)", [self.reaction, ident, self.position]
        )

    def get(self, scope: str, subject: str, key: str = "") -> Any:
        self.cur.execute(
            "SELECT value::text FROM proj_fact WHERE reaction = %s AND scope = %s "
            f"AND subject = %s AND key = %s AND {self._AS_OF} LIMIT 1",
            [self.reaction, scope, subject, key, self.position, self.position],
        )
        row = self.cur.fetchone()
        return json.loads(row[0]) if row else None

    def keys(self, scope: str, subject: str) -> list[str]:
        self.cur.execute(
            "SELECT key FROM proj_fact WHERE reaction = %s AND scope = %s AND subject = %s "
            f"AND {self._AS_OF} ORDER BY key",
            [self.reaction, scope, subject, self.position, self.position],
        )
        return [row[0] for row in self.cur.fetchall()]

    def subjects(self, scope: str, key: str = "") -> list[str]:
        self.cur.execute(
            "SELECT subject FROM proj_fact WHERE reaction = %s AND scope = %s AND key = %s "
            f"AND {self._AS_OF} ORDER BY subject",
            [self.reaction, scope, key, self.position, self.position],
        )
        return [row[0] for row in self.cur.fetchall()]
