"""`/metrics` for Prometheus: projection lag, checkpoints and dead letters, the relay's outbox
backlog, and the orders in flight, read from their stores at scrape time (so every process
reports the same)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

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


REGISTRY = CollectorRegistry()
REGISTRY.register(EventPlatformCollector())


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
