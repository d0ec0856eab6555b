"""Peer figure: the `eventsourcing` library appending one event per command to Postgres.

Runs in its own virtualenv (bench/.peer-venv, made by `make bench-eventstore`), so the library
never becomes a project dependency. Prints one JSON line: {"events": n, "seconds": s}.
"""

from __future__ import annotations

import json
import os
import sys
import time

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Counter(Aggregate):
    @event("Created")
    def __init__(self) -> None:
        self.n = 0

    @event("Incremented")
    def increment(self, amount: int) -> None:
        self.n += amount


class Counters(Application):
    pass


def main() -> None:
    count = int(sys.argv[1])
    app = Counters(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": os.environ["POSTGRES_DB"],
            "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
            "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
            "POSTGRES_USER": os.environ.get("POSTGRES_USER", "cqrs"),
            "POSTGRES_PASSWORD": os.environ.get("POSTGRES_PASSWORD", "cqrs"),
            "CREATE_TABLE": "y",
        }
    )
    counters = [Counter() for _ in range(max(1, count // 100))]
    for c in counters:
        app.save(c)  # creation events are not timed
    start = time.perf_counter()
    for i in range(count):
        c = counters[i % len(counters)]
        c.increment(1)
        app.save(c)  # one event per command, one transaction
    seconds = time.perf_counter() - start
    print(json.dumps({"events": count, "seconds": seconds}))


if __name__ == "__main__":
    main()
