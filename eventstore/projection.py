"""Read models built from the event log: the contract modules implement, the engine runs.

A projection is a named read model with one handler per event type it cares about. It lives
below the engine (`projections/`) so that business modules can define their read models without
depending on the engine (the layers are config > projections > apps > eventstore).

    class Balances(PostgresProjection):
        name = "ledger.balances"
        topics = ("accounts",)               # the modules whose topics it reads
        tables = ("ledger_balance",)

        @handles(Deposited)
        def _deposited(self, cur, envelope):
            cur.execute("UPDATE ledger_balance SET balance = balance + %s WHERE id = %s", ...)

        @handles_batch(Withdrawn)                 # a run of them in one call
        def _withdrawn(self, cur, envelopes):
            cur.executemany("UPDATE ledger_balance SET balance = balance - %s WHERE id = %s",
                            [(e.payload.amount, e.payload.account) for e in envelopes])

Postgres handlers receive a cursor inside the engine's transaction (the checkpoint is written in
the same transaction). Redis handlers receive a redis-py pipeline that is never executed: they
queue writes and never read; the engine sends the queued commands to one Lua script
(projections/targets/redis_target.py) that checks the checkpoint, runs them and moves it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from eventstore.events import EventEnvelope
from eventstore.queues import Queue

F = TypeVar("F", bound=Callable[..., None])


def handles(*event_classes: type) -> Callable[[F], F]:
    """Mark a projection method as the handler of the given event classes."""

    def decorator(fn: F) -> F:
        fn._handles = tuple(c.event_type for c in event_classes)  # type: ignore[attr-defined]
        return fn

    return decorator


def handles_batch(*event_classes: type) -> Callable[[F], F]:
    """Like `handles`, for a method that takes a list of envelopes: each run of consecutive
    events it handles within a batch comes in one call (in log order), so it can write them
    with one `executemany` or one pipeline instead of a statement per event."""

    def decorator(fn: F) -> F:
        fn = handles(*event_classes)(fn)
        fn._batch = True  # type: ignore[attr-defined]
        return fn

    return decorator


class Projection:
    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    kind: ClassVar[str]
    _handlers: ClassVar[dict[str, Callable[..., None]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Callable[..., None]] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for event_type in getattr(attr, "_handles", ()):
                    found[event_type] = attr
        cls._handlers = found

    def handles_type(self, event_type: str) -> bool:
        return event_type in self._handlers

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def apply(self, target: Any, envelope: EventEnvelope) -> None:
        self.apply_many(target, [envelope])

    def apply_many(self, target: Any, envelopes: Sequence[EventEnvelope]) -> None:
        """Apply envelopes in order; consecutive ones of a batch handler go in one call."""
        handlers = self._handlers
        i, n = 0, len(envelopes)
        while i < n:
            handler = handlers[envelopes[i].event_type]
            if not getattr(handler, "_batch", False):
                handler(self, target, envelopes[i])
                i += 1
                continue
            j = i + 1
            while j < n and handlers[envelopes[j].event_type] is handler:
                j += 1
            handler(self, target, envelopes[i:j])
            i = j


class PostgresProjection(Projection):
    kind = "postgres"
    # The tables it owns: emptied on rebuild, copied for a shadow rebuild, dumped for comparison.
    tables: ClassVar[tuple[str, ...]] = ()
    # True for handlers that only write (never read a result: no fetch, no rowcount). Their
    # statements are then sent in psycopg pipeline mode, without a round trip each: about twice
    # the throughput. Errors still surface (at the end of the batch) and are isolated as usual.
    pipelined: ClassVar[bool] = False
    # True: handlers get a psycopg cursor that binds parameters on the server instead of
    # Django's, which quotes them into the SQL text. Faster (an executemany of upserts 2.3x),
    # and values keep their types: a Decimal is numeric, so `%s / %s` of Decimal 2 and 1 is
    # 2.000..., where Django's cursor sends the literal `2 / 1` and gets 2.
    server_binding: ClassVar[bool] = False

    def setup(self, cur: Any) -> None:
        """Create the tables if they do not exist (projections without migrations)."""


def live_namespace(projection_name: str) -> str:
    """Where a Redis read model's live keys are (a shadow rebuild writes beside them)."""
    from django.conf import settings

    return f"{settings.REDIS_KEY_PREFIX}:rm:{projection_name}"


class RedisProjection(Projection):
    kind = "redis"

    @classmethod
    def live(cls) -> RedisProjection:
        """An instance over the live keys, for reading them (`card = Cards.live().key(...)`)."""
        return cls(live_namespace(cls.name))

    def __init__(self, namespace: str = "") -> None:
        # All keys live under one namespace, so a rebuild can drop them and a shadow rebuild
        # can write beside them.
        self.namespace = namespace

    def key(self, *parts: object) -> str:
        return ":".join([self.namespace, *(str(p) for p in parts)])


class SideEffect(Projection):
    """Work done once per event outside the read models (an email, a call to another system).

    The engine records a job per (side effect, event id) in the same transaction as the
    checkpoint, and runs the handler in a Celery task with retries. An event's effect therefore
    runs once however often the log is read, and a rebuild of the read models never repeats it.
    Handlers take only the envelope: `def send(self, envelope) -> None`. A handler should still
    tolerate being run twice (a worker can die after the effect and before it is recorded).
    """

    kind = "side_effect"
    # The Celery queue its jobs run on (e.g. deliveries apart from other side effects).
    queue: ClassVar[str] = Queue.SIDE_EFFECTS

    def run(self, envelope: EventEnvelope) -> None:
        self._handlers[envelope.event_type](self, envelope)

    def failed(self, envelope: EventEnvelope, error: str) -> None:
        """Called once when the last retry failed (in the job's transaction): record it."""
