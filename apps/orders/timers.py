"""Durable timers of the orders process: rows in `orders_timer`, written in the transaction of
the step that starts them (the fulfilment reaction's), cancelled in the transaction of the step
that ends their reason, fired by the `orders.fire_timers` task (celery beat, every
ORDERS_TIMER_SWEEP seconds) once due.

- `reservation_expiry`: the stock is held; not paid by then, the order is cancelled (and the
  cancellation releases the stock).
- `payment_timeout`: the payment is requested; not confirmed by then, it has failed (and the
  failure releases the stock).

A timer fires once (its row is locked and marked in the firing's transaction); a timer due for an
order that has moved on (paid, cancelled) is marked ignored and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.orders import commands as c
from apps.orders.models import OrderTimer
from apps.shared import bus
from apps.shared.bus import Context
from apps.shared.errors import DomainError

logger = logging.getLogger("orders")
CTX = "orders.timers"


def start(order_id: str, kind: str, at: datetime, *, payment_id: str = "") -> None:
    """Set a timer (in the caller's transaction); a second start of the same one does nothing."""
    OrderTimer.objects.get_or_create(
        order_id=order_id,
        kind=kind,
        defaults={"fire_at": at, "payment_id": payment_id, "created_at": timezone.now()},
    )


def cancel(order_id: str) -> int:
    """Cancel the order's pending timers (in the caller's transaction)."""
    return OrderTimer.objects.filter(order_id=order_id, status=OrderTimer.Status.PENDING).update(
        status=OrderTimer.Status.CANCELLED, done_at=timezone.now()
    )


def fire_due(now: datetime | None = None, *, limit: int = 500) -> int:
    """Fire the timers due by `now`, each in a transaction of its own; returns how many fired."""
    now = now or timezone.now()
    fired = 0
    for _ in range(limit):
        with transaction.atomic():
            timer = (
                OrderTimer.objects.select_for_update(skip_locked=True)
                .filter(status=OrderTimer.Status.PENDING, fire_at__lte=now)
                .order_by("fire_at")
                .first()
            )
            if timer is None:
                return fired
            timer.status = _fire(timer)
            timer.done_at = timezone.now()
            timer.save(update_fields=["status", "done_at"])
            fired += timer.status == OrderTimer.Status.FIRED
    return fired


def _fire(timer: OrderTimer) -> str:
    ctx = Context(actor=CTX, idempotency_key=f"{timer.order_id}:{timer.kind}")
    command: object
    if timer.kind == "payment_timeout":
        reason = "the payment was not confirmed in time"
        command = c.FailPayment(timer.order_id, timer.payment_id, reason)
    else:
        command = c.CancelOrder(timer.order_id, "the stock reservation expired before payment")
    try:
        with transaction.atomic():  # a savepoint: a refused command leaves the timer's row
            bus.dispatch(command, ctx)
    except DomainError as exc:
        logger.info("timer %s ignored: %s", timer, exc)
        return OrderTimer.Status.IGNORED
    return OrderTimer.Status.FIRED
