"""The orders module's command handlers, and their table (`HANDLERS`, read by the command bus:
apps.shared.bus). A handler takes the command, and the order it changes; it records events
through the aggregate or raises a DomainError."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from apps.orders import commands as c
from apps.orders.aggregates import Order
from apps.orders.events import OrderLine
from apps.products.public import quote
from apps.shared import bus
from apps.shared.bus import Changes, Context, Creates, HandlerTable, New
from apps.shared.errors import DomainError, InvalidCommand
from eventstore.idempotency import CommandResult


def place(cmd: c.PlaceOrder) -> New[Order]:
    return New(Order.place(str(uuid.uuid4()), customer_id=cmd.customer_id, lines=cmd.lines))


def mark_stock_reserved(cmd: c.MarkStockReserved, order: Order) -> None:
    order.stock_reserved()


def reject(cmd: c.RejectOrder, order: Order) -> None:
    order.reject(cmd.reason)


def request_payment(cmd: c.RequestPayment, order: Order) -> None:
    order.request_payment(cmd.payment_id)


def confirm_payment(cmd: c.ConfirmPayment, order: Order) -> None:
    order.paid(cmd.payment_id)


def fail_payment(cmd: c.FailPayment, order: Order) -> None:
    order.payment_failed(cmd.payment_id, cmd.reason)


def start_fulfilment(cmd: c.StartFulfilment, order: Order) -> None:
    order.start_fulfilment()


def record_fulfilment_failure(cmd: c.RecordFulfilmentFailure, order: Order) -> None:
    order.fulfilment_attempt_failed(cmd.attempt, cmd.error)


def retry_fulfilment(cmd: c.RetryFulfilment, order: Order) -> None:
    order.retry_fulfilment()


def complete_fulfilment(cmd: c.CompleteFulfilment, order: Order) -> None:
    order.fulfilled()


class NotYours(DomainError):
    status = 404
    code = "not_found"


def cancel(cmd: c.CancelOrder, order: Order) -> None:
    if cmd.customer_id is not None and cmd.customer_id != order.customer_id:
        raise NotYours(f"no order {cmd.order_id}")
    order.cancel(cmd.reason)


HANDLERS: HandlerTable = {
    c.PlaceOrder: Creates(place),
    c.MarkStockReserved: Changes(Order, mark_stock_reserved),
    c.RejectOrder: Changes(Order, reject),
    c.RequestPayment: Changes(Order, request_payment),
    c.ConfirmPayment: Changes(Order, confirm_payment),
    c.FailPayment: Changes(Order, fail_payment),
    c.StartFulfilment: Changes(Order, start_fulfilment),
    c.RecordFulfilmentFailure: Changes(Order, record_fulfilment_failure),
    c.RetryFulfilment: Changes(Order, retry_fulfilment),
    c.CompleteFulfilment: Changes(Order, complete_fulfilment),
    c.CancelOrder: Changes(Order, cancel),
}


class UnknownProduct(InvalidCommand):
    code = "unknown_product"


def place_order(customer_id: str, wanted: Sequence[tuple[str, int]], ctx: Context) -> CommandResult:
    """Not in the table (it asks the catalog first): price each (product, quantity) as the
    catalog has it now, through the products facade, and place the order. A product that is
    not on sale is refused (422)."""
    quotes = quote([product_id for product_id, _ in wanted])
    missing = [product_id for product_id, _ in wanted if product_id not in quotes]
    if missing:
        raise UnknownProduct(f"not on sale: {', '.join(missing)}")
    lines = tuple(
        OrderLine(
            product_id=product_id,
            quantity=quantity,
            unit_price=quotes[product_id].unit_price,
            currency=quotes[product_id].currency,
        )
        for product_id, quantity in wanted
    )
    return bus.dispatch(c.PlaceOrder(customer_id, lines), ctx)
