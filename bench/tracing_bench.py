"""The cost of tracing and metrics: commands over HTTP (change a price, gunicorn 2x4, wrk, 8
connections) with tracing off, on at 10% sampling (three ways) and on at 100%, in rounds that
measure every mode once on fresh processes, each run followed by the time the relay and the read
models take to apply the load (their throughput under tracing); a mode's ratio is the median of
its ratios to the same round's "off", so the machine's drift cancels out.
Spans go to a local sink that accepts Zipkin's JSON, as a collector would. Metrics are always
on: what they cost is measured as the time the counting of one command takes (the observations
the web, the store, the relay and a read model make for it, in multiprocess mode),
beside the CPU time one command costs at the measured rate. Target: at most 10% slower at 10%
sampling (printed, not asserted).

    make bench-tracing [BENCH_ARGS=--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import common
from bench.http_bench import (
    GUNICORN,
    LUA,
    SCENARIOS,
    free_port,
    run_wrk,
    seed,
    wait_for_quiet,
    wait_until_served,
    write_script,
)

MODES: dict[str, str | None] = {
    "off": None,
    "10% sampled": "0.1",
    "10%, no SQL/Redis": "0.1",
    "10%, requests only": "0.1",  # OTEL_TRACES_SAMPLER=parentbased_requests_ratio
    "100% sampled": "1.0",
}
SCENARIO = "command: change price"


class Sink:
    """Counts the spans the processes export."""

    def __init__(self) -> None:
        self.spans = 0
        lock = threading.Lock()
        sink = self

        class Spans(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    sink.spans += len(json.loads(body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Spans)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}/api/v2/spans"


def tracing_env(sink: Sink, mode: str, sampled: str | None) -> None:
    """The OTEL_* settings the next processes start with (they copy os.environ)."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]
    if sampled is None:
        return
    if "no SQL" in mode:
        os.environ["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "psycopg,redis"
    os.environ.update(
        {
            "OTEL_TRACES_EXPORTER": "zipkin",
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": sink.endpoint,
            "OTEL_TRACES_SAMPLER": (
                "parentbased_requests_ratio" if "requests" in mode else "parentbased_traceidratio"
            ),
            "OTEL_TRACES_SAMPLER_ARG": sampled,
        }
    )


def metrics_cost_per_command(repeat: int = 20000) -> float:
    """Microseconds to count one price change everywhere it is counted (prometheus-client in
    multiprocess mode, as every process runs it): the request, the command, the append and its
    event, the relay's batch and acknowledgement, and a read model applying it."""
    import time

    from eventstore import metrics

    http = metrics.HTTP_SECONDS.labels("/api/v1/products/<uuid:pk>/price/", "POST", "200")
    command = metrics.COMMAND_SECONDS.labels("ChangePrice", "ok")
    applied = metrics.PROJECTION_SECONDS.labels("products.catalog")
    events = metrics.PROJECTION_EVENTS.labels("products.catalog", "live")
    started = time.perf_counter()
    for _ in range(repeat):
        http.observe(0.004)
        command.observe(0.003)
        metrics.APPEND_SECONDS.observe(0.001)
        metrics.APPENDED_EVENTS.inc()
        metrics.RELAY_ACK_SECONDS.observe(0.01)
        metrics.RELAY_BATCH_EVENTS.observe(1)
        applied.observe(0.02)
        events.inc()
    return (time.perf_counter() - started) / repeat * 1e6


def measure(
    sink: Sink, mode: str, ids: list[str], token: str, seconds: float, quick: bool
) -> tuple[dict[str, float], int]:
    """One measured wrk run of the scenario on fresh processes started under `mode`: its
    figures (with the rate the relay and read models applied the load at) and the spans
    exported meanwhile."""
    tracing_env(sink, mode, MODES[mode])
    method, path, body, connections = SCENARIOS[SCENARIO]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    label = "".join(c for c in mode if c.isalnum())
    web = common.spawn(
        f"tracing-web-{label}",
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", *GUNICORN],
    )
    worker = common.start_worker(
        f"tracing-worker-{label}", "default,projections,side_effects,notifications,orders"
    )
    relay = common.start_relay()
    before = sink.spans
    try:
        wait_until_served(base, ids)
        with tempfile.TemporaryDirectory() as tmp:
            script = write_script(Path(tmp) / "script.lua", LUA, ids, method, path, body, token)
            wait_for_quiet()
            run_wrk(base, script, connections, 1.0 if quick else 2.0)  # warm up
            wait_for_quiet()
            result = run_wrk(base, script, connections, seconds)
            drained = wait_for_quiet()
    finally:
        common.stop([web, worker, relay])
    applied = result["rps"] * seconds / (seconds + drained)
    return {**result, "applied_per_s": applied}, sink.spans - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    os.environ["JWT_ACCESS_TTL"] = "7200"
    common.configure_env("bench.http_settings")
    common.setup()
    seconds = 3.0 if args.quick else 10.0
    ids, token = seed(40 if args.quick else 200)
    sink = Sink()
    samples: dict[str, dict[str, list[float]]] = {}
    spans: dict[str, int] = dict.fromkeys(MODES, 0)
    # Interleaved: every round measures every mode once, in an order that rotates, each on
    # fresh processes; a mode's ratio is taken against the round's own "off", so the machine's
    # drift over the run (as large as the effect on a noisy machine) cancels out.
    names = list(MODES)
    try:
        for round_ in range(args.runs):
            for mode in names[round_ % len(names) :] + names[: round_ % len(names)]:
                result, exported = measure(sink, mode, ids, token, seconds, args.quick)
                for key, value in result.items():
                    samples.setdefault(mode, {}).setdefault(key, []).append(value)
                spans[mode] += exported
                print(f"  round {round_ + 1} {mode:<20}{result['rps']:>8.0f} req/s")
    finally:
        tracing_env(sink, "off", None)
        sink.server.shutdown()
        common.teardown()

    figures = {mode: common.summarize(s) for mode, s in samples.items()}

    def med(mode: str, key: str = "rps") -> float | None:
        return figures.get(mode, {}).get(key, {}).get("median")

    print(f"\n{'tracing':<20}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'applied/s':>11}{'spans':>9}")
    for mode in figures:
        print(
            f"{mode:<20}{med(mode) or 0:>9.0f}{med(mode, 'p50_ms') or 0:>9.1f}"
            f"{med(mode, 'p99_ms') or 0:>9.1f}{med(mode, 'applied_per_s') or 0:>11.0f}"
            f"{spans[mode]:>9}"
        )

    def paired(mode: str, key: str = "rps") -> float | None:
        """The median over rounds of the mode's figure over the same round's "off"."""
        pairs = zip(samples.get(mode, {}).get(key, []), samples["off"][key], strict=False)
        ratios = [m / o for m, o in pairs if o]
        return statistics.median(ratios) if ratios else None

    offs = samples["off"]["rps"]
    baseline = statistics.median(offs)
    ratios = {
        "commands, 10% sampled vs off": (paired("10% sampled"), "target >= 0.90"),
        "commands, 10% without SQL/Redis spans": (
            paired("10%, no SQL/Redis"),
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=psycopg,redis",
        ),
        "commands, 10% of requests only": (
            paired("10%, requests only"),
            "OTEL_TRACES_SAMPLER=parentbased_requests_ratio: no background roots",
        ),
        "commands, 100% sampled vs off": (paired("100% sampled"), ""),
        "applied/s, 10% sampled vs off": (
            paired("10% sampled", "applied_per_s"),
            "the read models' pace under the load",
        ),
        "off, slowest round vs fastest": (
            common.ratio(min(offs), max(offs)),
            "the machine's drift across rounds (paired ratios cancel it)",
        ),
    }
    counting = metrics_cost_per_command()
    cpu_per_command = (os.cpu_count() or 1) / baseline * 1e6 if baseline else None
    print(
        f"\nmetrics: {counting:.1f} us to count one command everywhere; one command costs "
        f"{cpu_per_command or 0:.0f} us of CPU at the measured rate"
    )
    ratios["metrics, share of a command's CPU"] = (
        common.ratio(counting, cpu_per_command),
        "counting always on; target well under 0.10",
    )
    common.report(
        "tracing",
        {f"{mode} req/s": f["rps"] for mode, f in figures.items()},
        ratios,
        "requests/s",
        {
            "spans": spans,
            "seconds_per_run": seconds,
            "server": " ".join(GUNICORN),
            "metrics_us_per_command": counting,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
