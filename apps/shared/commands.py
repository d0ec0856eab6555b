"""Running a command against one aggregate: load, act, save, with the HTTP conventions.

- `expected_version` (from `If-Match`) makes the write conditional: a stream at another version
  answers 412 and nothing is written.
- Without it, a write that loses a race with another writer is retried on fresh state (a few
  times), so commands that do not care about the version do not fail spuriously.
- `idempotency_key` (from `Idempotency-Key`, scoped to the caller) makes a repeat return the
  first outcome without writing.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from apps.shared.errors import DomainError
from eventstore.aggregate import Aggregate
from eventstore.commands import CommandResult, execute
from eventstore.errors import ConcurrencyError
from eventstore.events import Metadata
from eventstore.repository import Repository
from eventstore.runtime import get_store, snapshot_every
from eventstore.store import AppendResult, Claim, Release, fingerprint

A = TypeVar("A", bound=Aggregate)
Reservations = Sequence[Claim | Release]
ATTEMPTS = 10


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"{stream_id} is at version {actual}, not {expected} (If-Match)")
        self.actual = actual


class WriteConflict(DomainError):
    code = "write_conflict"


@dataclass(frozen=True)
class Context:
    """Who issues a command and how: built from the request by the API layer."""

    actor: str | None = None
    correlation_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    expected_version: int | None = None

    @property
    def metadata(self) -> Metadata:
        return Metadata(actor=self.actor, correlation_id=self.correlation_id)

    def scoped_key(self) -> str | None:
        if not self.idempotency_key:
            return None
        return f"{self.actor or 'anonymous'}:{self.idempotency_key}"


SYSTEM = Context(actor="system")


def repository(cls: type[A]) -> Repository[A]:
    return Repository(get_store(), cls, snapshot_every=snapshot_every(cls.stream_type))


def create(
    aggregate: Aggregate, *, ctx: Context, command: Any, reservations: Reservations = ()
) -> CommandResult:
    """Save a new aggregate (expected version 0)."""
    repo = repository(type(aggregate))
    return execute(
        get_store(),
        lambda: repo.save(aggregate, metadata=ctx.metadata, reservations=reservations),
        idempotency_key=ctx.scoped_key(),
        fingerprint=fingerprint(type(command).__name__, command),
    )


def _unchanged(repo: Repository[A], aggregate: A) -> AppendResult:
    """A command that changes nothing (watching a product already watched) succeeds with the
    current version; its token is the last event's, which the read side has or will apply."""
    last = repo.store.read(aggregate.id, from_version=aggregate.version)[-1]
    return AppendResult(aggregate.id, aggregate.version + 1, aggregate.version, (last.event_id,))


def update(
    cls: type[A],
    stream_id: str,
    act: Callable[[A], Reservations | None],
    *,
    ctx: Context,
    command: Any,
) -> CommandResult:
    """Load the aggregate, `act` on it (it raises a DomainError or records events, and may
    return reservations), and save, as described above."""
    repo = repository(cls)

    def handler() -> AppendResult:
        for attempt in range(ATTEMPTS):
            aggregate = repo.load(stream_id)
            if ctx.expected_version is not None and aggregate.version != ctx.expected_version:
                raise PreconditionFailed(stream_id, ctx.expected_version, aggregate.version)
            reservations = act(aggregate) or ()
            if not aggregate.pending_events:
                return _unchanged(repo, aggregate)
            try:
                return repo.save(aggregate, metadata=ctx.metadata, reservations=reservations)
            except ConcurrencyError as exc:
                if ctx.expected_version is not None:
                    raise PreconditionFailed(stream_id, exc.expected, exc.actual) from exc
                if attempt == ATTEMPTS - 1:
                    raise WriteConflict(f"{stream_id} kept changing; try again") from exc
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    return execute(
        get_store(),
        handler,
        idempotency_key=ctx.scoped_key(),
        fingerprint=fingerprint(type(command).__name__, stream_id, command),
    )
