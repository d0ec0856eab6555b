"""Reads of the orders module's read models, for its API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.orders.events import STATES, TERMINAL
from apps.orders.models import OrderStep, OrderTimer, OrderView


def orders_of(customer_id: str) -> QuerySet[OrderView]:
    return OrderView.objects.filter(customer_id=customer_id)


def every_order() -> QuerySet[OrderView]:
    return OrderView.objects.all()


def order(order_id: str) -> OrderView | None:
    return OrderView.objects.filter(order_id=order_id).first()


def timeline(order_id: str) -> list[OrderStep]:
    return list(OrderStep.objects.filter(order_id=order_id).order_by("version"))


def older_than(orders: QuerySet[OrderView], moment: datetime) -> QuerySet[OrderView]:
    """Those that have not moved since `moment`."""
    return orders.filter(updated_at__lt=moment)


IN_FLIGHT = tuple(s for s in STATES if s not in TERMINAL)


def stuck(minutes: float, now: datetime | None = None) -> QuerySet[OrderView]:
    """Orders in flight that have not moved for `minutes`, the longest waiting first."""
    since = (now or timezone.now()) - timedelta(minutes=minutes)
    return OrderView.objects.filter(state__in=IN_FLIGHT, updated_at__lt=since).order_by(
        "updated_at"
    )


def pending_timers(order_id: str) -> list[OrderTimer]:
    return list(
        OrderTimer.objects.filter(order_id=order_id, status=OrderTimer.Status.PENDING).order_by(
            "fire_at"
        )
    )


@dataclass(frozen=True)
class Health:
    by_state: dict[str, int]
    in_flight: int
    oldest_in_flight_seconds: float
    timers_pending: int


def health(now: datetime | None = None) -> Health:
    """Orders by state, how many are in flight, how long the oldest has waited, timers set."""
    now = now or timezone.now()
    by_state = dict.fromkeys(STATES, 0)
    for state, count in OrderView.objects.values_list("state").annotate(n=Count("order_id")):
        by_state[state] = count
    oldest = (
        OrderView.objects.filter(state__in=IN_FLIGHT)
        .order_by("updated_at")
        .values_list("updated_at", flat=True)
        .first()
    )
    return Health(
        by_state=by_state,
        in_flight=sum(by_state[s] for s in IN_FLIGHT),
        oldest_in_flight_seconds=(now - oldest).total_seconds() if oldest else 0.0,
        timers_pending=OrderTimer.objects.filter(status=OrderTimer.Status.PENDING).count(),
    )
