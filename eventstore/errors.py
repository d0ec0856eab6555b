"""Errors the event store raises. Each carries what a caller needs to answer a client."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every event store error."""


class ConcurrencyError(EventStoreError):
    """The stream moved on since the caller read it (optimistic concurrency); HTTP 409/412."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual}, not the expected version {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class UniquenessError(EventStoreError):
    """A unique value (an email, a SKU) is already reserved by another stream; HTTP 409."""

    def __init__(self, scope: str, value: str, holder: str) -> None:
        super().__init__(f"{scope} {value!r} is already taken")
        self.scope = scope
        self.value = value
        self.holder = holder


class IdempotencyConflict(EventStoreError):
    """An idempotency key was reused with a different command; HTTP 422."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


class UnknownEventType(EventStoreError):
    def __init__(self, event_type: str) -> None:
        super().__init__(f"no event class is registered for type {event_type!r}")
        self.event_type = event_type


class SerializationError(EventStoreError):
    """An event cannot be written or read as JSON (bad field value, missing upcaster, ...)."""


class ReadOnlyStore(EventStoreError):
    """An append where the store is read-only: inside a read model's handler (live or in a
    rebuild). Read models never append; code that decides belongs in a reaction, which a
    rebuild never runs."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"the event store is read-only during {why}: read models never append "
            "(code that decides belongs in a reaction)"
        )
