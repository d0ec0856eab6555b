"""The command bus: the one way into every module's write side.

    result = bus.dispatch(ChangePrice(product_id, Decimal("9.99"), "EUR"), ctx)

A command is a frozen dataclass (`<module>/commands.py`); a command that changes an existing
aggregate names its stream (`stream_id`). Each module lists its handlers in one literal table,
`HANDLERS` in `<module>/handlers.py`, mapping a command class to

- `Creates(handler)`: `handler(command) -> New(aggregate, reservations)`, saved as a new stream
  (a stream that exists already raises ConcurrencyError);
- `Changes(Aggregate, handler)`: the bus loads the aggregate at `command.stream_id` (404 when
  there is none, unless `start` builds it), `handler(command, aggregate)` records events or
  raises a DomainError, and may return reservations; the bus saves.

config/wiring.py merges the tables and installs one Bus with the store. For every command the
bus does, once:

- idempotency: with `ctx.idempotency_key` (Idempotency-Key, scoped to the caller) a repeat
  returns the first outcome without writing (eventstore.idempotency); the key is tied to the
  command's fields, except those marked `secret()` (a password is never fingerprinted);
- concurrency: with `ctx.expected_version` (If-Match) a stream at another version answers 412
  and nothing is written; without it, a write that loses a race is retried on fresh state;
- metadata (actor, correlation id) on every event, and the result's consistency token.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from apps.shared.errors import DomainError
from eventstore import logcontext, metrics, tracing
from eventstore.aggregate import Aggregate
from eventstore.errors import ConcurrencyError, IdempotencyConflict, UniquenessError
from eventstore.events import Metadata
from eventstore.idempotency import CommandResult, execute
from eventstore.repository import AggregateNotFound, Repository
from eventstore.store import AppendResult, Claim, EventStore, Release, fingerprint

A = TypeVar("A", bound=Aggregate)
C = TypeVar("C")
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


def secret() -> Any:
    """A command field left out of the idempotency fingerprint (and of its repr)."""
    return dataclasses.field(repr=False, metadata={"secret": True})


class New(NamedTuple, Generic[A]):
    """What a creating handler returns: the new aggregate and the values it reserves."""

    aggregate: A
    reservations: Reservations = ()


@dataclass(frozen=True)
class Creates(Generic[C, A]):
    handler: Callable[[C], New[A]]


@dataclass(frozen=True)
class Changes(Generic[C, A]):
    aggregate: type[A]
    handler: Callable[[C, A], Reservations | None]
    start: Callable[[C], A] | None = None


Handler = Creates[Any, Any] | Changes[Any, Any]
HandlerTable = Mapping[type, Handler]


def handler_table(*tables: HandlerTable) -> dict[type, Handler]:
    """The modules' tables as one; a command class listed twice is refused."""
    merged: dict[type, Handler] = {}
    for table in tables:
        for command, handler in table.items():
            if command in merged:
                raise ValueError(f"{command.__name__} has two handlers")
            merged[command] = handler
    return merged


_log = logging.getLogger("apps.commands")
# The store's refusals, named in the command's log line as the API names them.
REFUSALS: dict[type[Exception], str] = {
    AggregateNotFound: "not_found",
    UniquenessError: "already_taken",
    IdempotencyConflict: "idempotency_key_reused",
}


class Bus:
    def __init__(
        self,
        store: EventStore,
        handlers: HandlerTable,
        *,
        snapshot_every: int | None = None,
        snapshot_every_by_type: Mapping[str, int] | None = None,
    ) -> None:
        """`snapshot_every`: store a snapshot every N events of a stream (per stream type in
        `snapshot_every_by_type`); none when 0 or None."""
        self.store = store
        self.handlers = dict(handlers)
        self.snapshot_every = snapshot_every
        self.snapshot_every_by_type = dict(snapshot_every_by_type or {})

    def dispatch(self, command: object, ctx: Context = SYSTEM) -> CommandResult:
        """Run the command; one log line says what became of it (type, stream, new version,
        duration, outcome: `ok`, `replayed` or the refusal's code)."""
        name = type(command).__name__
        try:
            handler = self.handlers[type(command)]
        except KeyError:
            raise LookupError(f"no handler for {name}") from None
        stream = getattr(command, "stream_id", None)
        started = time.perf_counter()
        outcome = "error"
        result: CommandResult | None = None
        with (
            tracing.span(f"command {name}", command=name, stream_id=stream or ""),
            logcontext.bound(command=name, stream_id=stream, correlation_id=ctx.correlation_id),
        ):
            try:
                if isinstance(handler, Creates):
                    write = self._creating(handler, command, ctx)
                else:
                    write = self._changing(handler, command, ctx)
                result = execute(
                    self.store,
                    write,
                    idempotency_key=ctx.scoped_key(),
                    fingerprint=fingerprint(name, _fields(command)),
                )
                outcome = "replayed" if result.replayed else "ok"
                return result
            except DomainError as exc:
                outcome = exc.code
                raise
            except (AggregateNotFound, UniquenessError, IdempotencyConflict) as exc:
                outcome = REFUSALS[type(exc)]
                raise
            finally:
                elapsed = time.perf_counter() - started
                metrics.COMMAND_SECONDS.labels(name, outcome).observe(elapsed)
                _log.info(
                    "command %s: %s",
                    name,
                    outcome,
                    extra={
                        "outcome": outcome,
                        "duration_ms": round(elapsed * 1000, 2),
                        **(
                            {"stream_id": result.stream_id, "version": result.version}
                            if result is not None
                            else {}
                        ),
                    },
                )

    def repository(self, cls: type[A]) -> Repository[A]:
        every = self.snapshot_every_by_type.get(cls.stream_type, self.snapshot_every)
        return Repository(self.store, cls, snapshot_every=every if every and every > 0 else None)

    def load(self, cls: type[A], stream_id: str) -> A:
        """The aggregate as it is now (AggregateNotFound when there is none)."""
        return self.repository(cls).load(stream_id)

    def _creating(
        self, handler: Creates[Any, Any], command: object, ctx: Context
    ) -> Callable[[], AppendResult]:
        def write() -> AppendResult:
            new = handler.handler(command)
            repo = self.repository(type(new.aggregate))
            return repo.save(new.aggregate, metadata=ctx.metadata, reservations=new.reservations)

        return write

    def _changing(
        self, handler: Changes[Any, Any], command: Any, ctx: Context
    ) -> Callable[[], AppendResult]:
        stream_id: str = command.stream_id
        repo = self.repository(handler.aggregate)

        def write() -> AppendResult:
            for attempt in range(ATTEMPTS):
                aggregate = self._current(repo, handler, command, stream_id)
                if ctx.expected_version is not None and aggregate.version != ctx.expected_version:
                    raise PreconditionFailed(stream_id, ctx.expected_version, aggregate.version)
                reservations = handler.handler(command, aggregate) or ()
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

        return write

    @staticmethod
    def _current(
        repo: Repository[Any], handler: Changes[Any, Any], command: object, stream_id: str
    ) -> Any:
        if handler.start is not None and not repo.exists(stream_id):
            return handler.start(command)
        return repo.load(stream_id)


def _unchanged(repo: Repository[A], aggregate: A) -> AppendResult:
    """A command that changes nothing (watching a product already watched) succeeds with the
    current version; its token is the last event's, which the read side has or will apply."""
    last = repo.store.read(aggregate.id, from_version=aggregate.version)[-1]
    return AppendResult(aggregate.id, aggregate.version + 1, aggregate.version, (last.event_id,))


def _fields(command: object) -> dict[str, Any]:
    return {
        f.name: getattr(command, f.name)
        for f in dataclasses.fields(command)  # type: ignore[arg-type]
        if not f.metadata.get("secret")
    }


_bus: Bus | None = None


def install(bus: Bus | None) -> Bus | None:
    """Make `bus` the process's bus (config/wiring.py does, at start-up); returns the one it
    replaces (tests put it back)."""
    global _bus
    previous, _bus = _bus, bus
    return previous


def current() -> Bus:
    if _bus is None:
        raise RuntimeError("no command bus is installed: config.wiring.wire() installs it")
    return _bus


def dispatch(command: object, ctx: Context = SYSTEM) -> CommandResult:
    """Hand `command` to the installed bus (see the module's docstring)."""
    return current().dispatch(command, ctx)
