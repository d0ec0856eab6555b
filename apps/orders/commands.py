"""What callers may ask of the orders module (imperative, frozen): the messages the command bus
(apps.shared.bus) hands to the handlers in handlers.py. A command that changes an order names
its stream (`stream_id`). Placing takes lines already priced: `handlers.place_order` prices
them from the catalog (the products facade), never from the caller."""

from __future__ import annotations

from dataclasses import dataclass

from apps.orders.events import OrderLine


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class OrderCommand:
    order_id: str

    @property
    def stream_id(self) -> str:
        return self.order_id


@dataclass(frozen=True)
class MarkStockReserved(OrderCommand):
    pass


@dataclass(frozen=True)
class RejectOrder(OrderCommand):
    reason: str


@dataclass(frozen=True)
class RequestPayment(OrderCommand):
    payment_id: str


@dataclass(frozen=True)
class ConfirmPayment(OrderCommand):
    payment_id: str


@dataclass(frozen=True)
class FailPayment(OrderCommand):
    payment_id: str
    reason: str


@dataclass(frozen=True)
class StartFulfilment(OrderCommand):
    pass


@dataclass(frozen=True)
class RecordFulfilmentFailure(OrderCommand):
    attempt: int
    error: str


@dataclass(frozen=True)
class RetryFulfilment(OrderCommand):
    """An operator's: try a stuck order's preparation again."""


@dataclass(frozen=True)
class CompleteFulfilment(OrderCommand):
    pass


@dataclass(frozen=True)
class CancelOrder(OrderCommand):
    """`customer_id`: only if the order is theirs (None: staff, or the order's own process)."""

    reason: str
    customer_id: str | None = None
