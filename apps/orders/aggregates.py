"""The Order aggregate: its lines and totals, and where it stands. Pure Python.

    placed -> stock_reserved -> payment_pending -> paid -> fulfilling -> fulfilled
    placed -> rejected (stock short)
    placed | stock_reserved | payment_pending -> cancelled (before payment)
    payment_pending -> payment_failed (declined, or not confirmed in time)

A terminal state (fulfilled, cancelled, rejected, payment_failed) refuses every later change.
The same change asked twice (a repeated payment confirmation) records nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from apps.orders.events import (
    TERMINAL,
    FulfilmentAttemptFailed,
    FulfilmentRetried,
    FulfilmentStarted,
    OrderCancelled,
    OrderFulfilled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRejected,
    OrderStockReserved,
    PaymentFailed,
    PaymentRequested,
)
from apps.shared.errors import DomainError, InvalidCommand
from eventstore.aggregate import Aggregate, applies

STREAM_TYPE = "orders.Order"
MAX_LINES = 50
MAX_QUANTITY = 1000
MAX_REASON = 500


class OrderClosed(DomainError):
    """The order has ended (fulfilled, cancelled, rejected, payment failed)."""

    code = "order_closed"


class WrongState(DomainError):
    code = "invalid_state"


def totals_of(lines: Sequence[OrderLine]) -> tuple[tuple[str, int], ...]:
    """The amount due per currency, in minor units, by currency code."""
    due: dict[str, int] = {}
    for line in lines:
        due[line.currency] = due.get(line.currency, 0) + line.quantity * line.unit_price
    return tuple(sorted(due.items()))


def check_lines(lines: Sequence[OrderLine]) -> None:
    if not 0 < len(lines) <= MAX_LINES:
        raise InvalidCommand(f"an order has 1 to {MAX_LINES} lines")
    products = [line.product_id for line in lines]
    if len(set(products)) != len(products):
        raise InvalidCommand("each product appears once in an order (give its quantity)")
    for line in lines:
        if not 0 < line.quantity <= MAX_QUANTITY:
            raise InvalidCommand(f"a quantity must be between 1 and {MAX_QUANTITY}")
        if line.unit_price <= 0:
            raise InvalidCommand(f"product {line.product_id} has no price")


class Order(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE
    snapshots: ClassVar[bool] = False  # a few events per order

    customer_id: str = ""
    lines: list[OrderLine] = []  # noqa: RUF012 - copied per instance by Aggregate
    totals: list[tuple[str, int]] = []  # noqa: RUF012
    state: str = ""
    payment_id: str = ""
    reason: str = ""
    failed_attempts: int = 0

    @classmethod
    def place(cls, order_id: str, *, customer_id: str, lines: Sequence[OrderLine]) -> Order:
        check_lines(lines)
        order = cls(order_id)
        order._record(
            OrderPlaced(
                order_id=order_id,
                customer_id=customer_id,
                lines=tuple(lines),
                totals=totals_of(lines),
            )
        )
        return order

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def _require(self, *states: str) -> None:
        if self.terminal:
            raise OrderClosed(f"order {self.id} is {self.state}: it no longer changes")
        if self.state not in states:
            raise WrongState(f"order {self.id} is {self.state}, not {' or '.join(states)}")

    def stock_reserved(self) -> None:
        if self.state == "stock_reserved":
            return
        self._require("placed")
        self._record(OrderStockReserved(order_id=self.id))

    def request_payment(self, payment_id: str) -> None:
        if self.state == "payment_pending" and payment_id == self.payment_id:
            return
        self._require("stock_reserved")
        self._record(
            PaymentRequested(order_id=self.id, payment_id=payment_id, totals=tuple(self.totals))
        )

    def paid(self, payment_id: str) -> None:
        if self.payment_id == payment_id and self.state in ("paid", "fulfilling", "fulfilled"):
            return  # a repeated confirmation
        self._require("payment_pending")
        if payment_id != self.payment_id:
            raise WrongState(f"payment {payment_id} is not this order's ({self.payment_id})")
        self._record(OrderPaid(order_id=self.id, payment_id=payment_id))

    def payment_failed(self, payment_id: str, reason: str) -> None:
        if self.state == "payment_failed" and payment_id == self.payment_id:
            return
        self._require("payment_pending")
        if payment_id != self.payment_id:
            raise WrongState(f"payment {payment_id} is not this order's ({self.payment_id})")
        self._record(
            PaymentFailed(order_id=self.id, payment_id=payment_id, reason=reason[:MAX_REASON])
        )

    def start_fulfilment(self) -> None:
        if self.state == "fulfilling":
            return
        self._require("paid")
        self._record(FulfilmentStarted(order_id=self.id))

    def fulfilment_attempt_failed(self, attempt: int, error: str) -> None:
        self._require("fulfilling")
        if attempt <= self.failed_attempts:
            return  # recorded already
        self._record(
            FulfilmentAttemptFailed(order_id=self.id, attempt=attempt, error=error[:MAX_REASON])
        )

    def retry_fulfilment(self) -> None:
        self._require("fulfilling")
        self._record(FulfilmentRetried(order_id=self.id))

    def fulfilled(self) -> None:
        if self.state == "fulfilled":
            return
        self._require("fulfilling")
        self._record(OrderFulfilled(order_id=self.id))

    def cancel(self, reason: str) -> None:
        if self.state == "cancelled":
            return
        self._require("placed", "stock_reserved", "payment_pending")
        self._record(OrderCancelled(order_id=self.id, reason=reason[:MAX_REASON]))

    def reject(self, reason: str) -> None:
        if self.state == "rejected":
            return
        self._require("placed")
        self._record(OrderRejected(order_id=self.id, reason=reason[:MAX_REASON]))

    # -- appliers

    @applies(OrderPlaced)
    def _placed(self, e: OrderPlaced) -> None:
        self.customer_id, self.lines, self.totals = e.customer_id, list(e.lines), list(e.totals)
        self.state = "placed"

    @applies(OrderStockReserved)
    def _reserved(self, e: OrderStockReserved) -> None:
        self.state = "stock_reserved"

    @applies(PaymentRequested)
    def _payment_requested(self, e: PaymentRequested) -> None:
        self.state, self.payment_id = "payment_pending", e.payment_id

    @applies(OrderPaid)
    def _paid(self, e: OrderPaid) -> None:
        self.state = "paid"

    @applies(PaymentFailed)
    def _payment_failed(self, e: PaymentFailed) -> None:
        self.state, self.reason = "payment_failed", e.reason

    @applies(FulfilmentStarted)
    def _fulfilling(self, e: FulfilmentStarted) -> None:
        self.state = "fulfilling"

    @applies(FulfilmentAttemptFailed)
    def _attempt_failed(self, e: FulfilmentAttemptFailed) -> None:
        self.failed_attempts = e.attempt

    @applies(FulfilmentRetried)
    def _retried(self, e: FulfilmentRetried) -> None:
        self.failed_attempts = 0

    @applies(OrderFulfilled)
    def _fulfilled(self, e: OrderFulfilled) -> None:
        self.state = "fulfilled"

    @applies(OrderCancelled)
    def _cancelled(self, e: OrderCancelled) -> None:
        self.state, self.reason = "cancelled", e.reason

    @applies(OrderRejected)
    def _rejected(self, e: OrderRejected) -> None:
        self.state, self.reason = "rejected", e.reason
