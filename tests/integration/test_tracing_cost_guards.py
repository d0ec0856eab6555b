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
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from config import tracing as config_tracing
from eventstore.runtime import postgres_dsn

_exporter = InMemorySpanExporter()
_exporting: list[bool] = []  # the exporter is on the process's provider (once)


@pytest.fixture
def instrumented() -> Iterator[InMemorySpanExporter]:
    """psycopg and Redis instrumented with the guards, as config/tracing.py does, then not."""
    import redis

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not _exporting:
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        _exporting.append(True)
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


@pytest.mark.django_db
def test_a_request_is_one_server_span_child_of_the_callers_traceparent(
    instrumented: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    monkeypatch.setattr(config_tracing, "_request_spans", True)
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    answer = Client(HTTP_HOST="127.0.0.1").get("/api/v1/products/", HTTP_TRACEPARENT=caller)
    assert answer.status_code == 200
    servers = [s for s in instrumented.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(servers) == 1, [(s.name, s.parent) for s in servers]
    (span,) = servers
    assert span.name == "GET /api/v1/products/"
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert (span.attributes or {})["http.response.status_code"] == 200

    monkeypatch.setattr(config_tracing, "_request_spans", False)  # tracing off: no span at all
    instrumented.clear()
    Client(HTTP_HOST="127.0.0.1").get("/api/v1/products/", HTTP_TRACEPARENT=caller)
    assert not [s for s in instrumented.get_finished_spans() if s.kind == SpanKind.SERVER]
