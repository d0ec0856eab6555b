"""SQL and Redis spans only inside a trace being recorded: none for a statement or a Redis call
outside any span or under an unsampled request (what made tracing at 10% sampling cost 14% of
the commands' rate), and one each, as before, inside a recorded trace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation import dbapi
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from config import tracing as config_tracing
from eventstore.runtime import postgres_dsn

_exporter = InMemorySpanExporter()


@pytest.fixture
def instrumented() -> Iterator[InMemorySpanExporter]:
    """psycopg and Redis instrumented with the guards, as config/tracing.py does, then not."""
    import redis

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    traced_execution = dbapi.CursorTracer.traced_execution
    methods = [
        (redis.Redis, "execute_command"),
        (redis.client.Pipeline, "execute"),
        (redis.client.Pipeline, "immediate_execute_command"),
    ]
    plain = {(cls, name): getattr(cls, name) for cls, name in methods}
    PsycopgInstrumentor().instrument(enable_commenter=False)
    config_tracing._sql_spans_only_under_recorded_ones()
    RedisInstrumentor().instrument()
    config_tracing._redis_spans_only_under_recorded_ones()
    _exporter.clear()
    try:
        yield _exporter
    finally:
        PsycopgInstrumentor().uninstrument()
        dbapi.CursorTracer.traced_execution = traced_execution  # type: ignore[method-assign]
        for (cls, name), method in plain.items():
            setattr(cls, name, method)
        RedisInstrumentor().uninstrument()  # (nothing left to unwrap: its state only)


def _calls(conn: psycopg.Connection[tuple[object, ...]], key: str) -> None:
    import redis
    from django.conf import settings

    conn.execute("SELECT 1").fetchone()
    client = redis.Redis(host=settings.REDIS_HOST, port=settings.REDIS_PORT, db=settings.REDIS_DB)
    client.set(key, 1)
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.delete(key)
    pipe.execute()


def _systems(exporter: InMemorySpanExporter) -> list[str]:
    return sorted(str((s.attributes or {}).get("db.system")) for s in exporter.get_finished_spans())


@pytest.mark.django_db
def test_sql_and_redis_spans_only_inside_a_recorded_trace(
    instrumented: InMemorySpanExporter,
) -> None:
    key = f"tracing-guard-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        _calls(conn, key)  # outside any span: a root span each, without the guards
        assert _systems(instrumented) == []

        unsampled = NonRecordingSpan(
            SpanContext(trace_id=1, span_id=1, is_remote=True, trace_flags=TraceFlags(0))
        )
        with trace.use_span(unsampled):  # an unsampled request
            _calls(conn, key)
        assert _systems(instrumented) == []

        with trace.get_tracer("test").start_as_current_span("a sampled request"):
            _calls(conn, key)
    spans = instrumented.get_finished_spans()
    assert _systems(instrumented) == ["None", "postgresql", "redis", "redis"]
    request = next(s for s in spans if s.name == "a sampled request")
    assert all(
        s.parent is not None and s.parent.span_id == request.context.span_id
        for s in spans
        if s is not request
    )
