"""Trace context that travels with events (OpenTelemetry's API only; the SDK, exporters and
instrumentations are set up by the process: config/tracing.py).

An event stores the W3C `traceparent` of the span that appended it; the relay sends it in the
message's `traceparent` header; whoever applies the event (a read model, a reaction, a side
effect) starts its span as that trace's child, so one trace follows a command through every
process. A replay applies old events again: its spans *link* to the original trace instead of
pretending to be part of it (`span_for(..., replay=True)`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject

TRACEPARENT = "traceparent"
_tracer = trace.get_tracer("cqrs.eventstore")
_enabled = False


def enable() -> None:
    """Called once a tracer provider is installed (config/tracing.py): until then the engine
    skips its spans altogether (not even no-op ones on the hot paths)."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def current_traceparent() -> str | None:
    """The current span's `traceparent`, or None outside any recorded span."""
    if not _enabled or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get(TRACEPARENT)


def context_of(traceparent: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    return extract({TRACEPARENT: traceparent})


def link_to(traceparent: str | None) -> trace.Link | None:
    parent = context_of(traceparent)
    if parent is None:
        return None
    span = trace.get_current_span(parent).get_span_context()
    return trace.Link(span) if span.is_valid else None


def events_span(
    name: str,
    traceparents: Iterable[str | None],
    *,
    replay: bool = False,
    attributes: dict[str, Any] | None = None,
) -> AbstractContextManager[Any]:
    """`span_for` when tracing is on, else nothing at all."""
    if not _enabled:
        return nullcontext()
    return span_for(name, traceparents, replay=replay, attributes=attributes)


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A child span of the current one when tracing is on, else nothing at all."""
    if not _enabled:
        return nullcontext()
    return _tracer.start_as_current_span(name, attributes=attributes)


@contextmanager
def span_for(
    name: str,
    traceparents: Iterable[str | None],
    *,
    replay: bool = False,
    attributes: dict[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span for work on events: the child of their trace when they are one command's (the
    first one's), with links to every other trace among them; only links on a replay."""
    distinct = list(dict.fromkeys(t for t in traceparents if t))
    parent = None if replay or not distinct else context_of(distinct[0])
    links = [link for t in (distinct if replay else distinct[1:]) if (link := link_to(t))]
    with _tracer.start_as_current_span(
        name, context=parent, links=links, attributes=attributes or {}
    ) as span:
        yield span


def tracer() -> trace.Tracer:
    return _tracer
