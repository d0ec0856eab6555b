"""Tracing with OpenTelemetry, set up once per process by the composition root.

Off unless `OTEL_TRACES_EXPORTER` names an exporter (`zipkin`, `otlp` or `console`; the standard
`OTEL_*` variables configure it: `OTEL_EXPORTER_ZIPKIN_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_TRACES_SAMPLER`/`_ARG` for sampling, `OTEL_BSP_SCHEDULE_DELAY` for the export pace).
When on: Django, psycopg, Celery and Redis are instrumented, and the event store's trace context
(eventstore/tracing.py) carries one trace from the request through the append, the relay, the
read models and reactions to the side effects. Each process names itself (`web`, `worker`,
`follower`, `relay`, `beat`, or `OTEL_SERVICE_NAME`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

from config.process import service_name
from eventstore import tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler

_done = False
_request_spans = False
REQUESTS_RATIO = "parentbased_requests_ratio"


def sampler_from_env() -> Any:
    """The standard OTEL_TRACES_SAMPLER names (None: the SDK reads them), or this project's
    `parentbased_requests_ratio`: a trace starts only at a request, sampled at
    OTEL_TRACES_SAMPLER_ARG; background work (Celery tasks, the relay, beat, replays) joins the
    trace of the events it handles and starts none of its own, so sampling 10% of the requests
    records about 10% of the work instead of 10% of every task besides."""
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() != REQUESTS_RATIO:
        return None
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    try:
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG") or 1.0)
    except ValueError:
        raise ValueError(
            f"OTEL_TRACES_SAMPLER_ARG={os.environ['OTEL_TRACES_SAMPLER_ARG']!r}: a ratio, 0 to 1"
        ) from None
    return ParentBased(root=cast("Sampler", RequestRoots(TraceIdRatioBased(ratio))))


class RequestRoots:
    """A root sampler: requests (SERVER spans) by the inner sampler, anything else dropped."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> Any:
        from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

        if kind is not SpanKind.SERVER:
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RequestRoots{{{self.inner.get_description()}}}"


def set_up() -> bool:
    """Install the tracer provider and the instrumentations; False when tracing is off."""
    global _done
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if _done or exporter_name in ("", "none"):
        return _done
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    exporter: SpanExporter
    if exporter_name == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        exporter = ZipkinExporter()
    elif exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif exporter_name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter = ConsoleSpanExporter()
    else:
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter_name!r}: use zipkin, otlp, console")
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name()}), sampler=sampler_from_env()
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    # OTEL_PYTHON_DISABLED_INSTRUMENTATIONS (the standard variable) leaves some out, e.g.
    # "psycopg,redis": one span per SQL statement or Redis call is most of tracing's cost.
    disabled = {
        name.strip()
        for name in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
    }
    global _request_spans
    _request_spans = "django" not in disabled
    if "psycopg" not in disabled:
        PsycopgInstrumentor().instrument(enable_commenter=False)
        _sql_spans_only_under_recorded_ones()
    if "celery" not in disabled:
        CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]
    if "redis" not in disabled:
        RedisInstrumentor().instrument()
        _redis_spans_only_under_recorded_ones()
    tracing.enable()
    _done = True
    return True


# A statement or a Redis call is worth a span only inside a trace being recorded. Outside any
# span (the relay's loop, a worker between tasks) the instrumentations would start a trace of
# its own for each call, sampled like a request (lone SQL spans, about a sixth of what a 10%
# run exported); under an unsampled request they would still start a non-recording span,
# parse the statement and record its metrics. These guards call the plain method there instead.
# (`make bench-tracing` put the commands' rate at 10% sampling at 0.84-0.86x of off with or
# without them: within that bench's noise, not the gap to the 0.9x target.)


def _recording() -> bool:
    return bool(trace.get_current_span().is_recording())


def _sql_spans_only_under_recorded_ones() -> None:
    from opentelemetry.instrumentation import dbapi

    traced = dbapi.CursorTracer.traced_execution
    if getattr(traced, "_only_when_recording", False):
        return

    def traced_execution(
        self: Any, cursor: Any, query_method: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if not _recording():
            return query_method(*args, **kwargs)
        return traced(self, cursor, query_method, *args, **kwargs)

    traced_execution._only_when_recording = True  # type: ignore[attr-defined]
    dbapi.CursorTracer.traced_execution = traced_execution  # type: ignore[method-assign]


def _redis_spans_only_under_recorded_ones() -> None:
    from wrapt import wrap_function_wrapper

    def plain_unless_recording(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if _recording():
            return wrapped(*args, **kwargs)
        return wrapped.__wrapped__(*args, **kwargs)  # the method the instrumentation wrapped

    wrap_function_wrapper("redis", "Redis.execute_command", plain_unless_recording)
    wrap_function_wrapper("redis.client", "Pipeline.execute", plain_unless_recording)
    wrap_function_wrapper(
        "redis.client", "Pipeline.immediate_execute_command", plain_unless_recording
    )


class RequestSpans:
    """One SERVER span per request (Django middleware, in settings.MIDDLEWARE): the trace's
    root, or the child of the caller's `traceparent`; named by method and route, with the
    method, route, path and status as attributes, and an error status on a 5xx. Nothing at all
    while tracing is off. It replaces OpenTelemetry's Django instrumentation, which collected
    a dozen WSGI attributes and recorded its metrics for every request, sampled or not: 10% more
    CPU per unsampled request (`python -m bench.tracing_overhead --breakdown`: 1.14x of off
    with it, 1.04x without)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if not _request_spans:
            return self.get_response(request)
        method = request.method
        with trace.get_tracer("cqrs.web").start_as_current_span(
            method,
            context=extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
        ) as span:
            response = self.get_response(request)
            if span.is_recording():
                match = request.resolver_match
                if match is not None:
                    route = f"/{match.route}"
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("url.path", request.path)
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            return response
