"""One command, followed through every process: its spans (web, relay, worker, follower) share
one trace id, the email its reaction sends is in that trace, and every process's JSON log lines
carry the command's correlation id (and, when they handle it, its trace id).

The processes export spans to a collector the test runs (it speaks Zipkin's JSON API, as a
Zipkin server would), configured by the standard OTEL_* variables."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import Http
from tests.support.shop import mails_to

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "correct horse battery staple"


class Collector:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]


@pytest.fixture(params=["parentbased_always_on", "parentbased_requests_ratio"])
def collector(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Collector]:
    """With the SDK's default sampler, and with this project's (every request sampled): the
    background work must join the request's trace under both."""
    found = Collector()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", request.param)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "1.0")

    class Spans(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with found.lock:
                found.spans.extend(json.loads(body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Spans)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Every process the live system starts inherits these (tests.support.pg.child_env).
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    monkeypatch.setenv(
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT", f"http://127.0.0.1:{server.server_port}/api/v2/spans"
    )
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    monkeypatch.setenv("LOG_FORMAT", "json")
    yield found
    server.shutdown()


@pytest.fixture
def live_system(collector: Collector, live_system: Http) -> Http:
    """The live system, started after the collector (so with its OTEL_* settings)."""
    return live_system


def lines(log: Path) -> list[dict[str, Any]]:
    parsed = []
    for raw in log.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            parsed.append(json.loads(raw))
    return parsed


def test_one_command_is_one_trace_and_its_id_is_on_every_processs_log_lines(
    live_system: Http, collector: Collector, tmp_path: Path
) -> None:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    correlation = str(uuid.uuid4())
    made = live_system.post(
        "/api/v1/accounts/",
        {"email": email, "password": PASSWORD},
        headers={"X-Correlation-ID": correlation},
    )
    assert made.status == 201, made
    assert made.header("X-Correlation-ID") == correlation
    live_system.until("the welcome email", lambda: made, lambda _: bool(mails_to(email)), 60)

    # The command's span, in the web process: its trace is the one to follow.
    deadline = time.monotonic() + 30
    while True:
        commands = [s for s in collector.spans if s["name"] == "command RegisterAccount"]
        if commands:
            trace_id = commands[0]["traceId"]
            spans = collector.trace(trace_id)
            services = {s["localEndpoint"]["serviceName"] for s in spans}
            names = {s["name"] for s in spans}
            emailed = any(n.startswith("side effect notifications.") for n in names)
            if {"web", "relay", "worker", "follower"} <= services and emailed:
                break
        if time.monotonic() > deadline:
            seen = sorted({(s["localEndpoint"]["serviceName"], s["name"]) for s in collector.spans})
            raise AssertionError(f"the trace is incomplete; spans seen: {seen}")
        time.sleep(0.3)
    assert any(n.startswith("publish ") for n in names), names
    assert any(n.startswith("apply ") for n in names), names
    assert any(n.startswith("react ") for n in names), names

    # Every process's JSON lines carry the command's correlation id.
    logs = {name: lines(tmp_path / f"{name}.log") for name in ("web", "relay", "worker")}
    logs["follower"] = lines(tmp_path / "follower.log")

    def mentions(line: dict[str, Any]) -> bool:
        return line.get("correlation_id") == correlation or correlation in line.get(
            "correlation_ids", []
        )

    for name, parsed in logs.items():
        assert parsed, f"{name} wrote no JSON lines"
        assert all({"time", "level", "logger", "message"} <= set(p) for p in parsed), name
        ours = [p for p in parsed if mentions(p)]
        assert ours, f"{name}: no line carries correlation id {correlation}"
    command = next(p for p in logs["web"] if p.get("command") == "RegisterAccount")
    assert command["outcome"] == "ok" and command["trace_id"] == trace_id
    assert command["correlation_id"] == correlation and command["version"] == 1
    relay = [p for p in logs["relay"] if mentions(p)]
    assert any(trace_id in p.get("trace_ids", []) for p in relay), relay
