"""The platform's own metrics (prometheus-client), in one place: what the dashboards and alert
rules (`docker/prometheus/`) read. Each process counts into its own files when it runs under
prometheus-client's multiprocess mode (config/process.py); `/metrics` and each process's
metrics port add them up.

Latencies are histograms in seconds; `_count` of a histogram is how many were observed, so a
command's histogram also counts commands by type and outcome."""

from __future__ import annotations

import logging
import os
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

log = logging.getLogger(__name__)

# From a fraction of a millisecond (an append) to a minute (a stuck pipeline).
LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
SIZES = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

HTTP_SECONDS = Histogram(
    "http_request_duration_seconds",
    "HTTP requests by route, method and status, and how long they took",
    ["route", "method", "status"],
    buckets=LATENCY,
)
COMMAND_SECONDS = Histogram(
    "command_duration_seconds",
    "Commands by type and outcome (ok, replayed, or the refusal's code), and how long they took",
    ["command", "outcome"],
    buckets=LATENCY,
)
APPEND_SECONDS = Histogram(
    "eventstore_append_duration_seconds",
    "One append (events, outbox rows and reservations in one transaction)",
    buckets=LATENCY,
)
APPENDED_EVENTS = Counter("eventstore_appended_events", "Events appended to the store")
RELAY_ACK_SECONDS = Histogram(
    "relay_commit_to_ack_seconds",
    "From an event's commit to Kafka acknowledging it",
    buckets=LATENCY,
)
RELAY_BATCH_EVENTS = Histogram(
    "relay_batch_events", "Events per batch the relay published", buckets=SIZES
)
RELAY_ACTIVE = Gauge(
    "relay_active",
    "1 while this relay holds the lock and publishes, 0 while it stands by",
    multiprocess_mode="livemax",
)
PROJECTION_SECONDS = Histogram(
    "projection_commit_to_applied_seconds",
    "From an event's commit to a projection applying it, on the live path",
    ["projection"],
    buckets=LATENCY,
)
PROJECTION_EVENTS = Counter(
    "projection_events_applied",
    "Events a projection applied (mode: live, or rebuild from the log)",
    ["projection", "mode"],
)
REACTION_SECONDS = Histogram(
    "reaction_commit_to_applied_seconds",
    "From an event's commit to a reaction deciding on it",
    ["reaction"],
    buckets=LATENCY,
)
REACTION_EVENTS = Counter("reaction_events_applied", "Events a reaction decided on", ["reaction"])
DEAD_LETTERS = Counter(
    "dead_letters_parked", "Events parked as dead letters, by consumer", ["consumer"]
)
TASK_SECONDS = Histogram(
    "celery_task_duration_seconds",
    "Celery tasks by name and outcome (succeeded, failed, retried), and how long they ran",
    ["task", "outcome"],
    buckets=LATENCY,
)


def observe_many(child: Any, values: Iterable[float]) -> None:
    """`child.observe(v)` for each value, touching each bucket once: a batch of thousands of
    events costs a few shared-memory writes, not three per event."""
    bounds = child._upper_bounds
    counts = [0] * len(bounds)
    total = 0.0
    for value in values:
        counts[bisect_left(bounds, value)] += 1
        total += value
    if not any(counts):
        return
    child._sum.inc(total)
    for i, n in enumerate(counts):
        if n:
            child._buckets[i].inc(n)


_counted: CollectorRegistry | None = None


def counted() -> CollectorRegistry:
    """What this service's processes counted: every process's files added up in multiprocess
    mode (PROMETHEUS_MULTIPROC_DIR), else this process's own registry."""
    global _counted
    if _counted is None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            _counted = CollectorRegistry()
            multiprocess.MultiProcessCollector(_counted)  # type: ignore[no-untyped-call]
        else:
            _counted = REGISTRY
    return _counted


def serve(host: str, port: int) -> None:
    """Serve `counted()` at http://host:port/metrics from a background thread."""
    start_http_server(port, host, registry=counted())
    log.info("metrics on http://%s:%s/metrics", host, port)
