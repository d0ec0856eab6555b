"""Log lines: one JSON object per line in every process (`LOG_FORMAT=json`, the default), or
plain text for a terminal (`LOG_FORMAT=text`). Each line carries time, level, logger, message,
the fields bound by `eventstore.logcontext` (command, stream, version, event, correlation and
causation ids) and, inside a span, the trace and span ids."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from eventstore.logcontext import fields

try:
    from opentelemetry import trace
except ImportError:  # pragma: no cover - tracing is a dependency; a trimmed install still logs
    trace = None  # type: ignore[assignment]


class ContextFilter(logging.Filter):
    """Copies the bound fields and the current span's ids onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if trace is not None:
            span = trace.get_current_span().get_span_context()
            if span.is_valid:
                record.trace_id = format(span.trace_id, "032x")
                record.span_id = format(span.span_id, "016x")
        return True


class JsonLines(JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
