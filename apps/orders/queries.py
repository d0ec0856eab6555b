"""Reads of the orders module's read models, for its API."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from apps.orders.models import OrderStep, OrderView


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
