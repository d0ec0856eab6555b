"""The trace context travels with the events: the span that appends them is stored with each,
survives the Kafka value, and whoever applies them joins that trace (or links to it on a
replay). On the in-memory store, with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apps.products import commands as products
from eventstore import tracing
from eventstore.events import Metadata, new_envelope
from eventstore.serialization import decode_envelope, encode_envelope
from tests.support.commands import Shop, installed_shop

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module")
def _provider() -> TracerProvider:
    """The process's SDK provider (config/tracing.py installed one if OTEL_TRACES_EXPORTER is
    set in this shell; else ours, set once per process), with the in-memory exporter on it."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    return provider


@pytest.fixture
def spans(_provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory; as it was afterwards."""
    was = tracing.enabled()
    tracing.enable()
    _exporter.clear()
    try:
        yield _exporter
    finally:
        tracing._enabled = was


@pytest.fixture
def shop() -> Iterator[Shop]:
    yield from installed_shop()


def _hex_trace(span: trace.Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def test_a_command_writes_its_span_into_its_events_and_the_wire_keeps_it(
    spans: InMemorySpanExporter, shop: Shop
) -> None:
    shop.when(
        products.CreateProduct(
            sku="S-1", name="Lamp", description="", price=Decimal("9.00"), currency="EUR"
        )
    )
    created = shop.store.outbox[-1]
    command = next(s for s in spans.get_finished_spans() if s.name == "command CreateProduct")
    trace_id = format(command.context.trace_id, "032x")
    span_id = format(command.context.span_id, "016x")
    assert (created.trace_context or "").startswith(f"00-{trace_id}-{span_id}-")
    wire = decode_envelope(shop.store.registry, encode_envelope(created))
    assert wire.trace_context == created.trace_context


def test_outside_any_span_or_with_tracing_off_events_carry_none(
    spans: InMemorySpanExporter,
) -> None:
    meta = Metadata()
    loose = new_envelope(_event(), stream_id="s", stream_type="t", stream_version=1, metadata=meta)
    assert loose.trace_context is None
    tracing._enabled = False
    with trace.get_tracer("t").start_as_current_span("off"):
        off = new_envelope(
            _event(), stream_id="s", stream_type="t", stream_version=1, metadata=meta
        )
    assert off.trace_context is None


def test_applying_events_joins_their_trace_and_a_replay_links_to_it(
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("request") as request:
        first = tracing.current_traceparent()
    with tracer.start_as_current_span("other request") as other:
        second = tracing.current_traceparent()
    with tracing.events_span("apply x", [first, second, first]) as applied:
        pass
    assert _hex_trace(applied) == _hex_trace(request)  # the first event's trace: joined
    assert [link.context.trace_id for link in applied.links] == [other.get_span_context().trace_id]
    with tracing.events_span("apply x", [first], replay=True) as replayed:
        pass
    assert _hex_trace(replayed) != _hex_trace(request)  # a new trace that links to the old
    assert [link.context.trace_id for link in replayed.links] == [
        request.get_span_context().trace_id
    ]


def _event() -> object:
    from apps.products.events import ProductPublished

    return ProductPublished("p-1")
