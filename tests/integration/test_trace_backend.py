"""The trace backend a user opens: `stack.py up zipkin` (make tracing-up) starts Zipkin's server
on loopback from its Maven Central jar; spans exported by the OTEL_* settings show up in its
API under the process's service name; `stack.py down zipkin` stops it."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import stack

pytestmark = pytest.mark.slow
ZIPKIN = "http://127.0.0.1:9411"


def test_zipkin_from_the_stack_receives_and_shows_a_trace() -> None:
    started = stack("up", "zipkin")
    assert "zipkin" in started.stdout
    service = f"check-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(ZipkinExporter(endpoint=f"{ZIPKIN}/api/v2/spans"))
    )
    try:
        with provider.get_tracer("check").start_as_current_span("one command"):
            pass
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"{ZIPKIN}/api/v2/services", timeout=5) as answer:  # noqa: S310
                if service in json.loads(answer.read()):
                    break
            assert time.monotonic() < deadline, "the span never reached Zipkin"
            time.sleep(0.5)
        url = f"{ZIPKIN}/api/v2/spans?serviceName={service}"
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
            assert json.loads(answer.read()) == ["one command"]
    finally:
        stack("down", "zipkin")
        provider.shutdown()
