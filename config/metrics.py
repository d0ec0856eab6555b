"""Metrics for Prometheus.

- What each process counted (eventstore/metrics.py: HTTP requests, commands, appends, the
  relay's batches, events applied, Celery tasks), added up over the service's processes by
  prometheus-client's multiprocess collector: the web at `/metrics`, the other services on
  METRICS_PORT (`serve()`).
- At `/metrics` only, the state of the stores read at scrape time: projection and reaction
  lag, checkpoints and dead letters, the relay's outbox backlog, the orders in flight."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("config.metrics")


class EventPlatformCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        from projections.status import status

        lag = GaugeMetricFamily(
            "projection_lag_events",
            "Events in Kafka not yet applied",
            labels=["projection", "topic", "partition"],
        )
        checkpoint = GaugeMetricFamily(
            "projection_checkpoint_offset",
            "Next Kafka offset each projection will apply "
            "(its growth is the rate of events applied)",
            labels=["projection", "topic", "partition"],
        )
        dead = GaugeMetricFamily(
            "projection_dead_letters", "Parked or blocked events", labels=["projection"]
        )
        up = GaugeMetricFamily("projection_metrics_up", "1 if projection state could be read")
        try:
            per_projection: dict[str, int] = {}
            for row in status():
                labels = [row.projection, row.topic, str(row.partition)]
                lag.add_metric(labels, row.lag)
                checkpoint.add_metric(labels, row.checkpoint)
                per_projection[row.projection] = (
                    per_projection.get(row.projection, 0) + row.dead_letters
                )
            for name, count in per_projection.items():
                dead.add_metric([name], count)
            up.add_metric([], 1)
        except Exception:  # a scrape must answer even when a server is down
            log.warning("could not read projection state for /metrics", exc_info=True)
            up.add_metric([], 0)
        yield from (lag, checkpoint, dead, up)
        yield from _reaction_metrics()
        yield from _order_metrics()
        outbox = GaugeMetricFamily("relay_outbox_pending", "Committed events not yet in Kafka")
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT es_outbox_pending()")
                outbox.add_metric([], cur.fetchone()[0])
            yield outbox
        except Exception:
            log.warning("could not read the outbox for /metrics", exc_info=True)


def _reaction_metrics() -> Iterator[Metric]:
    from projections import reactions, registry

    lag = GaugeMetricFamily(
        "reaction_lag_events",
        "Events in the store's settled log not yet decided on",
        labels=["reaction"],
    )
    position = GaugeMetricFamily(
        "reaction_log_position",
        "Next log position each reaction will read (its growth is the rate of events read)",
        labels=["reaction"],
    )
    dead = GaugeMetricFamily(
        "reaction_dead_letters", "Parked or blocked events", labels=["reaction"]
    )
    try:
        for row in reactions.status(list(registry.reactions().values())):
            lag.add_metric([row.reaction], row.lag)
            position.add_metric([row.reaction], row.next_position)
            dead.add_metric([row.reaction], row.dead_letters)
    except Exception:  # a scrape must answer even when a server is down
        log.warning("could not read reaction state for /metrics", exc_info=True)
        return
    yield from (lag, position, dead)


def _order_metrics() -> Iterator[Metric]:
    from apps.orders.queries import health

    by_state = GaugeMetricFamily("orders", "Orders by state", labels=["state"])
    in_flight = GaugeMetricFamily("orders_in_flight", "Orders not yet in a final state")
    oldest = GaugeMetricFamily(
        "orders_oldest_in_flight_seconds", "How long the longest-waiting order has not moved"
    )
    timers = GaugeMetricFamily("orders_timers_pending", "Order timers set and not yet fired")
    try:
        now = health()
    except Exception:  # a scrape must answer even when a server is down
        log.warning("could not read the orders for /metrics", exc_info=True)
        return
    for state, count in now.by_state.items():
        by_state.add_metric([state], count)
    in_flight.add_metric([], now.in_flight)
    oldest.add_metric([], now.oldest_in_flight_seconds)
    timers.add_metric([], now.timers_pending)
    yield from (by_state, in_flight, oldest, timers)


STORES = CollectorRegistry()
STORES.register(EventPlatformCollector())


def metrics(request: HttpRequest) -> HttpResponse:
    from eventstore.metrics import counted

    body = generate_latest(counted()) + generate_latest(STORES)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def serve() -> None:
    """This service's metrics on METRICS_HOST:METRICS_PORT (worker, follower, beat; the relay
    does the same, the web answers at `/metrics`); nothing when METRICS_PORT is 0."""
    from eventstore import metrics as counters

    if settings.METRICS_PORT:
        counters.serve(settings.METRICS_HOST, settings.METRICS_PORT)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Counts and times every request by route (the URL pattern, not the path: ids do not
    multiply the series), method and status. Outermost, so it times the whole stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from eventstore.metrics import HTTP_SECONDS

        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = f"/{match.route}" if match is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        HTTP_SECONDS.labels(route, method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response
