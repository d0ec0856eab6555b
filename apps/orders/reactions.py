"""The fulfilment process (`orders.fulfilment`): one per order, keyed by the order id. A
process manager in the engine's reaction mechanism (eventstore.reaction): it reads the orders
events in the store's log order, and each step's decision (the commands it dispatches), its
facts (which reservations it made), its timers (timers.py) and the move of its checkpoint commit
in one transaction. A replay never runs it; an operator's re-run dispatches commands under the
same idempotency keys (order, step, product), which return their first outcome and write nothing.

    OrderPlaced         reserve every line's stock -> MarkStockReserved
                        (a line short: release what was reserved -> RejectOrder)
    OrderStockReserved  RequestPayment (the payments side effect asks the provider),
                        timers: reservation_expiry, payment_timeout
    OrderPaid           cancel the timers -> StartFulfilment (the kitchen side effect cooks)
    PaymentFailed,
    OrderCancelled      cancel the timers, release every reservation it made

A step whose order has moved on meanwhile (cancelled by its customer, say) dispatches nothing:
the order refuses it, and the cancellation's own step compensates.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from apps.orders import commands as c
from apps.orders import timers
from apps.orders.aggregates import Order
from apps.orders.events import (
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderStockReserved,
    PaymentFailed,
)
from apps.products.commands import ReleaseStock, ReserveStock
from apps.shared import bus
from apps.shared.bus import Context
from apps.shared.errors import DomainError
from eventstore.events import EventEnvelope
from eventstore.reaction import Facts, Reaction, reacts_to
from eventstore.repository import AggregateNotFound

logger = logging.getLogger("orders")
ACTOR = "orders.fulfilment"
_NAMESPACE = uuid.UUID("6b2f3c1e-9a41-4c1b-8f7e-0f5e2d0c9a11")


def reservation_id(order_id: str, product_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{order_id}:reservation:{product_id}"))


def payment_id(order_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{order_id}:payment"))


def _ctx(e: EventEnvelope, step: str) -> Context:
    """A step's command context: its idempotency key names the process, the step and what."""
    return Context(
        actor=ACTOR,
        correlation_id=e.correlation_id or e.event_id,
        idempotency_key=f"{e.stream_id}:{step}",
    )


def _attempt(command: object, ctx: Context) -> DomainError | None:
    """Dispatch in a savepoint; the refusal, if the order or a product refused."""
    try:
        with transaction.atomic():
            bus.dispatch(command, ctx)
    except (DomainError, AggregateNotFound) as exc:
        return exc if isinstance(exc, DomainError) else DomainError(str(exc))
    return None


class Fulfilment(Reaction):
    name = "orders.fulfilment"
    topics = ("orders",)

    @reacts_to(OrderPlaced)
    def reserve_stock(self, facts: Facts, e: EventEnvelope) -> None:
        placed: OrderPlaced = e.payload
        if bus.current().load(Order, placed.order_id).terminal:
            return  # cancelled before its process began
        for line in placed.lines:
            held = reservation_id(placed.order_id, line.product_id)
            command = ReserveStock(line.product_id, held, line.quantity)
            refused = _attempt(command, _ctx(e, f"reserve:{line.product_id}"))
            if refused is not None:
                self._release(facts, e, [ln.product_id for ln in placed.lines])
                reason = f"product {line.product_id}: {refused.detail}"
                _attempt(c.RejectOrder(placed.order_id, reason), _ctx(e, "reject"))
                return
            facts.put("reservation", placed.order_id, line.product_id, value=held)
        if _attempt(c.MarkStockReserved(placed.order_id), _ctx(e, "reserved")) is not None:
            self._release(facts, e, [ln.product_id for ln in placed.lines])

    @reacts_to(OrderStockReserved)
    def request_payment(self, facts: Facts, e: EventEnvelope) -> None:
        order_id = e.stream_id
        payment = payment_id(order_id)
        if _attempt(c.RequestPayment(order_id, payment), _ctx(e, "pay")) is not None:
            return
        ttl = timedelta(seconds=settings.ORDERS_RESERVATION_TTL)
        timeout = timedelta(seconds=settings.ORDERS_PAYMENT_TIMEOUT)
        timers.start(order_id, "reservation_expiry", e.occurred_at + ttl)
        timers.start(order_id, "payment_timeout", e.occurred_at + timeout, payment_id=payment)

    @reacts_to(OrderPaid)
    def start_fulfilment(self, facts: Facts, e: EventEnvelope) -> None:
        timers.cancel(e.stream_id)
        _attempt(c.StartFulfilment(e.stream_id), _ctx(e, "fulfil"))

    @reacts_to(PaymentFailed, OrderCancelled)
    def compensate(self, facts: Facts, e: EventEnvelope) -> None:
        timers.cancel(e.stream_id)
        self._release(facts, e, facts.keys("reservation", e.stream_id))

    def _release(self, facts: Facts, e: EventEnvelope, products: list[str]) -> None:
        """Release the reservations this process made for the order, once each."""
        for product_id in products:
            held = facts.get("reservation", e.stream_id, product_id) or reservation_id(
                e.stream_id, product_id
            )
            refused = _attempt(ReleaseStock(product_id, held), _ctx(e, f"release:{product_id}"))
            if refused is not None and refused.code != "not_found":
                logger.warning("order %s: releasing %s: %s", e.stream_id, product_id, refused)
            facts.drop("reservation", e.stream_id, product_id)
