"""The process-wide event store, built once by the factory that settings name (the composition
root lives in config/, which this package may not import)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from eventstore.store import EventStore

_store: EventStore | None = None


def get_store() -> EventStore:
    global _store
    if _store is None:
        _store = import_string(settings.EVENTSTORE_FACTORY)()
    return _store


def set_store(store: EventStore | None) -> None:
    """Replace the store (tests); None rebuilds it from settings on next use."""
    global _store
    _store = store


def snapshot_every(stream_type: str) -> int | None:
    every = settings.EVENTSTORE_SNAPSHOT_EVERY_BY_TYPE.get(
        stream_type, settings.EVENTSTORE_SNAPSHOT_EVERY
    )
    return every if every and every > 0 else None


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
