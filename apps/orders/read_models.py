"""The orders module's read models.

- `orders.orders` (Postgres): each order with its state, lines and totals, for the customer's
  list, an order's page and staff's filters (by state and age).
- `orders.timeline` (Postgres): each step of each order, with its time and detail.
Both only write, so their batches are pipelined.
"""

from __future__ import annotations

import json
from typing import Any

from apps.orders.events import (
    FulfilmentAttemptFailed,
    FulfilmentRetried,
    FulfilmentStarted,
    OrderCancelled,
    OrderFulfilled,
    OrderPaid,
    OrderPlaced,
    OrderRejected,
    OrderStockReserved,
    PaymentFailed,
    PaymentRequested,
)
from apps.shared.money import from_minor
from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, handles

# The state each event leaves an order in (FulfilmentAttemptFailed leaves it as it was).
STATE_AFTER: dict[type, str] = {
    OrderStockReserved: "stock_reserved",
    PaymentRequested: "payment_pending",
    OrderPaid: "paid",
    FulfilmentStarted: "fulfilling",
    OrderFulfilled: "fulfilled",
    OrderCancelled: "cancelled",
    OrderRejected: "rejected",
    PaymentFailed: "payment_failed",
}


class Orders(PostgresProjection):
    name = "orders.orders"
    topics = ("orders",)
    tables = ("orders_order",)
    pipelined = True

    @handles(OrderPlaced)
    def _placed(self, cur: Any, e: EventEnvelope) -> None:
        p: OrderPlaced = e.payload
        lines = [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "currency": line.currency,
            }
            for line in p.lines
        ]
        cur.execute(
            "INSERT INTO orders_order (order_id, customer_id, state, reason, lines, totals, "
            "payment_id, version, placed_at, updated_at) "
            "VALUES (%s, %s, 'placed', '', %s, %s, '', %s, %s, %s)",
            [
                e.stream_id,
                p.customer_id,
                json.dumps(lines),
                json.dumps(dict(p.totals)),
                e.stream_version,
                e.occurred_at,
                e.occurred_at,
            ],
        )

    @handles(*STATE_AFTER)
    def _moved(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "UPDATE orders_order SET state = %s, reason = %s, "
            "payment_id = coalesce(%s, payment_id), version = %s, updated_at = %s "
            "WHERE order_id = %s",
            [
                STATE_AFTER[type(e.payload)],
                getattr(e.payload, "reason", ""),
                getattr(e.payload, "payment_id", None),
                e.stream_version,
                e.occurred_at,
                e.stream_id,
            ],
        )

    @handles(FulfilmentAttemptFailed, FulfilmentRetried)
    def _attempt_failed(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "UPDATE orders_order SET version = %s, updated_at = %s WHERE order_id = %s",
            [e.stream_version, e.occurred_at, e.stream_id],
        )


class Timeline(PostgresProjection):
    name = "orders.timeline"
    topics = ("orders",)
    tables = ("orders_step",)
    pipelined = True

    @handles(OrderPlaced, *STATE_AFTER, FulfilmentAttemptFailed, FulfilmentRetried)
    def _step(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "INSERT INTO orders_step (order_id, version, step, detail, at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (order_id, version) DO NOTHING",
            [e.stream_id, e.stream_version, _step(e.payload), _detail(e.payload), e.occurred_at],
        )


def _step(event: Any) -> str:
    return str(type(event).event_type).removeprefix("orders.")


def _detail(event: Any) -> str:
    match event:
        case OrderPlaced():
            return ", ".join(f"{from_minor(units, cur)} {cur}" for cur, units in event.totals)
        case PaymentRequested() | OrderPaid():
            return f"payment {event.payment_id}"
        case FulfilmentAttemptFailed():
            return f"attempt {event.attempt}: {event.error}"
        case OrderCancelled() | OrderRejected() | PaymentFailed():
            return str(event.reason)
    return ""
