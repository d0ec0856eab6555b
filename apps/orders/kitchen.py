"""The kitchen: fulfilment as a long-running worker step (a side effect on FulfilmentStarted, on
the `orders` queue), as the system this project came from prepares an order. It works for
ORDERS_FULFILMENT_SECONDS, then records the order fulfilled. An attempt that fails (the first
ORDERS_KITCHEN_FAILURES attempts of every order, to show it) is recorded on the order and retried
with the engine's backoff; after the last retry the order stays `fulfilling`, for an operator.
"""

from __future__ import annotations

import time

from django.conf import settings

from apps.orders import commands as c
from apps.orders.aggregates import Order
from apps.orders.events import FulfilmentStarted
from apps.shared import bus
from apps.shared.bus import Context
from eventstore.events import EventEnvelope
from eventstore.projection import SideEffect, handles
from eventstore.queues import Queue

CTX = Context(actor="orders.kitchen")


class KitchenFailure(RuntimeError):
    pass


class Kitchen(SideEffect):
    name = "orders.kitchen"
    topics = ("orders",)
    queue = Queue.ORDERS

    @handles(FulfilmentStarted)
    def prepare(self, envelope: EventEnvelope) -> None:
        order_id = envelope.stream_id
        order = bus.current().load(Order, order_id)
        if order.state != "fulfilling":
            return  # done already (a repeated job), or closed by an operator
        attempt = order.failed_attempts + 1
        time.sleep(settings.ORDERS_FULFILMENT_SECONDS)
        if attempt <= settings.ORDERS_KITCHEN_FAILURES:
            error = f"attempt {attempt} failed (ORDERS_KITCHEN_FAILURES)"
            bus.dispatch(c.RecordFulfilmentFailure(order_id, attempt, error), CTX)
            raise KitchenFailure(error)
        bus.dispatch(c.CompleteFulfilment(order_id), CTX)
