"""The kitchen: fulfilment as a long-running worker step (a side effect on the `orders` queue), as
the system this project came from prepares an order. An attempt works for
ORDERS_FULFILMENT_SECONDS, then records the order fulfilled. An attempt that fails (the first
ORDERS_KITCHEN_FAILURES attempts of every order, to show it) is recorded on the order
(FulfilmentAttemptFailed), and that event is the next attempt's job: each attempt is a step of
the order's timeline. After ORDERS_KITCHEN_MAX_ATTEMPTS the order stays `fulfilling`, for an
operator, who may retry it (FulfilmentRetried: attempts count from zero again). A worker killed
while it cooks leaves its job pending: the sweep runs it again, and a repeated job finds the
order fulfilled and does nothing.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from apps.orders import commands as c
from apps.orders.aggregates import Order
from apps.orders.events import FulfilmentAttemptFailed, FulfilmentRetried, FulfilmentStarted
from apps.shared import bus
from apps.shared.bus import Context
from eventstore.events import EventEnvelope
from eventstore.projection import SideEffect, handles
from eventstore.queues import Queue

logger = logging.getLogger("orders")
CTX = Context(actor="orders.kitchen")


class Kitchen(SideEffect):
    name = "orders.kitchen"
    topics = ("orders",)
    queue = Queue.ORDERS

    @handles(FulfilmentStarted, FulfilmentAttemptFailed, FulfilmentRetried)
    def prepare(self, envelope: EventEnvelope) -> None:
        order_id = envelope.stream_id
        order = bus.current().load(Order, order_id)
        if order.state != "fulfilling":
            return  # done already (a repeated job), or closed by an operator
        after = getattr(envelope.payload, "attempt", 0)
        if after != order.failed_attempts:
            return  # a later attempt has its own job
        attempt = after + 1
        if attempt > settings.ORDERS_KITCHEN_MAX_ATTEMPTS:
            logger.warning("order %s: %s attempts failed; left to an operator", order_id, after)
            return
        time.sleep(settings.ORDERS_FULFILMENT_SECONDS)
        if attempt <= settings.ORDERS_KITCHEN_FAILURES:
            error = f"the kitchen failed (attempt {attempt} of ORDERS_KITCHEN_FAILURES)"
            bus.dispatch(c.RecordFulfilmentFailure(order_id, attempt, error), CTX)
            return
        bus.dispatch(c.CompleteFulfilment(order_id), CTX)
