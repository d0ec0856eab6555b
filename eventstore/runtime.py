"""The process's event store and the relay's hook, installed at start-up by the composition
root (config/wiring.py, which this package may not import)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings

from eventstore.store import EventStore

OnPublished = Callable[[Sequence[Any]], None]  # called with the relay's Published rows

_store: EventStore | None = None
_on_published: OnPublished | None = None


def install(store: EventStore | None) -> EventStore | None:
    """Make `store` the process's store; returns the one it replaces (tests put it back)."""
    global _store
    previous, _store = _store, store
    return previous


def get_store() -> EventStore:
    if _store is None:
        raise RuntimeError("no event store is installed: config.wiring.wire() installs it")
    return _store


def install_on_published(hook: OnPublished | None) -> None:
    """What the relay calls with each batch it published (the projection engine's wake-up)."""
    global _on_published
    _on_published = hook


def on_published() -> OnPublished | None:
    return _on_published


def postgres_dsn(alias: str = "default") -> str:
    """A libpq connection string for processes that talk to Postgres directly (the relay)."""
    from psycopg.conninfo import make_conninfo

    db = settings.DATABASES[alias]
    return make_conninfo(
        host=db["HOST"],
        port=db["PORT"],
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        application_name="es-relay",
    )
