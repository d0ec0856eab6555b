"""What the code is working on, for every log line written meanwhile: the command, its stream and
version, the event being applied, its correlation and causation ids. Plain Python (contextvars):
the store, the bus and the engine bind it; `config.logs` writes it into each JSON log line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_fields: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add these fields (None values are left out) to every log line inside the block."""
    current = _fields.get() or {}
    token = _fields.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def fields() -> dict[str, Any]:
    return dict(_fields.get() or {})
