"""`OTEL_TRACES_SAMPLER=parentbased_requests_ratio` (config/tracing.py): a trace starts only at
a request, at the ratio; background work joins the traces of its events and starts none."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from config.tracing import sampler_from_env

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


def parent(sampled: bool) -> object:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(TRACE_ID, 0xB7AD6B7169203331, True, flags))
    return trace.set_span_in_context(span)


def decide(kind: SpanKind, context: object = None) -> Decision:
    sampler = sampler_from_env()
    assert sampler is not None
    return sampler.should_sample(context, TRACE_ID, "span", kind).decision  # type: ignore[no-any-return]


def test_requests_start_traces_and_background_work_only_joins_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_requests_ratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "1.0")
    assert decide(SpanKind.SERVER) == Decision.RECORD_AND_SAMPLE
    for background in (SpanKind.CONSUMER, SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER):
        assert decide(background) == Decision.DROP, background
        assert decide(background, parent(sampled=True)) == Decision.RECORD_AND_SAMPLE
        assert decide(background, parent(sampled=False)) == Decision.DROP
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.0")
    assert decide(SpanKind.SERVER) == Decision.DROP


def test_the_standard_samplers_are_left_to_the_sdk_and_a_bad_ratio_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    assert sampler_from_env() is None
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_requests_ratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "ten percent")
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER_ARG='ten percent'"):
        sampler_from_env()
