"""An experiment, not part of the product (#21): what a per-process cache of aggregates buys a
command. With BENCH_AGGREGATE_CACHE=<size> the HTTP bench's web processes (bench.baseline's
ready()) and the hops bench (`--aggregate-cache N`) run commands through CachingBus:

- a command on an aggregate this process saved recently starts from a copy of it instead of
  loading it (snapshot and tail: one round trip);
- the copy is kept only once the transaction that saved it commits (Django's on_commit), so a
  rolled-back write never leaves a state that was not stored;
- a stale copy is found out by the append's expected-version check (ConcurrencyError), and so
  is a refusal, a no-op or an If-Match mismatch decided on a copy: each is decided again on a
  fresh load, so a stale copy costs one more round trip, never a wrong write or a wrong answer;
- aggregates that keep personal data out of snapshots (`snapshots = False`) are never cached.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from cachetools import LRUCache
from django.db import transaction

from apps.shared import bus
from apps.shared.errors import DomainError
from eventstore.errors import ConcurrencyError
from eventstore.store import AppendResult


class CachingBus(bus.Bus):
    def __init__(self, *args: Any, size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache: LRUCache[tuple[type, str], Any] = LRUCache(maxsize=size)
        self.lock = threading.Lock()
        self.hits = self.stale = 0

    def _copy(self, cls: type, stream_id: str) -> Any:
        with self.lock:
            kept = self.cache.get((cls, stream_id))
        return None if kept is None else copy.deepcopy(kept)

    def _keep_on_commit(self, aggregate: Any) -> None:
        kept = copy.deepcopy(aggregate)
        key = (type(aggregate), aggregate.id)

        def keep() -> None:
            with self.lock:
                self.cache[key] = kept

        transaction.on_commit(keep)

    def _forget(self, cls: type, stream_id: str) -> None:
        with self.lock:
            self.cache.pop((cls, stream_id), None)

    def _changing(
        self, handler: bus.Changes[Any, Any], command: Any, ctx: bus.Context
    ) -> Callable[[], AppendResult]:
        stream_id: str = command.stream_id
        repo = self.repository(handler.aggregate)
        cacheable = handler.aggregate.snapshots

        def write() -> AppendResult:
            fresh = not cacheable
            for attempt in range(bus.ATTEMPTS + 1):
                aggregate = None if fresh else self._copy(handler.aggregate, stream_id)
                copied = aggregate is not None
                if aggregate is None:
                    aggregate = self._current(repo, handler, command, stream_id)
                else:
                    self.hits += 1
                fresh = True  # whatever happens next, a second attempt loads
                if ctx.expected_version is not None and aggregate.version != ctx.expected_version:
                    if copied:
                        continue
                    raise bus.PreconditionFailed(stream_id, ctx.expected_version, aggregate.version)
                try:
                    reservations = handler.handler(command, aggregate) or ()
                except DomainError:
                    if copied:
                        continue
                    raise
                if not aggregate.pending_events:
                    if copied:
                        continue
                    return bus._unchanged(repo, aggregate)
                try:
                    result = repo.save(aggregate, metadata=ctx.metadata, reservations=reservations)
                except ConcurrencyError as exc:
                    self._forget(handler.aggregate, stream_id)
                    if copied:
                        self.stale += 1
                        continue
                    if ctx.expected_version is not None:
                        raise bus.PreconditionFailed(stream_id, exc.expected, exc.actual) from exc
                    if attempt >= bus.ATTEMPTS - 1:
                        raise bus.WriteConflict(f"{stream_id} kept changing; try again") from exc
                    time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter
                    continue
                if cacheable:
                    self._keep_on_commit(aggregate)
                return result
            raise AssertionError("unreachable")

        return write


def install(size: int) -> CachingBus:
    """Replace the process's bus with a CachingBus of the same store and handlers."""
    current = bus.current()
    caching = CachingBus(
        current.store,
        current.handlers,
        snapshot_every=current.snapshot_every,
        snapshot_every_by_type=current.snapshot_every_by_type,
        size=size,
    )
    bus.install(caching)
    return caching
