"""Running a write once per idempotency key, returning the version and a consistency token.

    result = execute(store, write, idempotency_key=key, fingerprint=fingerprint(name, fields))

`write` appends (through a repository) and returns the AppendResult (apps.shared.bus passes the
command's load, handle and save). The outcome is stored under the key in the same transaction
as the events, so a repeat returns it without writing, and a concurrent repeat waits for the
first and then returns its outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventstore.store import AppendResult, EventStore


@dataclass(frozen=True)
class CommandResult:
    stream_id: str
    version: int
    token: str
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "version": self.version, "token": self.token}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommandResult:
        return cls(data["stream_id"], int(data["version"]), data["token"])

    @classmethod
    def of(cls, result: AppendResult) -> CommandResult:
        return cls(result.stream_id, result.version, result.token.encode())


def execute(
    store: EventStore,
    write: Callable[[], AppendResult],
    *,
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> CommandResult:
    if not idempotency_key:
        return CommandResult.of(write())
    result, replayed = store.run_idempotent(
        idempotency_key,
        fingerprint,
        lambda: CommandResult.of(write()),
        encode=CommandResult.to_json,
        decode=CommandResult.from_json,
    )
    if replayed:
        return CommandResult(result.stream_id, result.version, result.token, replayed=True)
    return result
