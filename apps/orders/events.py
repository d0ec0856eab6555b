"""What happens to an order (the orders module's published language). Amounts are integers in
the currency's minor units (cents); an order may hold lines in several currencies, and its
totals are per currency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

STATES = (
    "placed",
    "stock_reserved",
    "payment_pending",
    "paid",
    "fulfilling",
    "fulfilled",
    "cancelled",
    "rejected",
    "payment_failed",
)
TERMINAL = ("fulfilled", "cancelled", "rejected", "payment_failed")


@dataclass(frozen=True)
class OrderLine:
    """A product, how many, and its price as the catalog gave it at placement."""

    product_id: str
    quantity: int
    unit_price: int
    currency: str


@dataclass(frozen=True)
class OrderPlaced:
    event_type: ClassVar[str] = "orders.OrderPlaced"
    schema_version: ClassVar[int] = 1

    order_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    totals: tuple[tuple[str, int], ...]  # (currency, amount in minor units), by currency


@dataclass(frozen=True)
class OrderStockReserved:
    """Every line's stock is held (one reservation per line, its id derived from the order)."""

    event_type: ClassVar[str] = "orders.OrderStockReserved"
    schema_version: ClassVar[int] = 1

    order_id: str


@dataclass(frozen=True)
class PaymentRequested:
    event_type: ClassVar[str] = "orders.PaymentRequested"
    schema_version: ClassVar[int] = 1

    order_id: str
    payment_id: str
    totals: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class OrderPaid:
    event_type: ClassVar[str] = "orders.OrderPaid"
    schema_version: ClassVar[int] = 1

    order_id: str
    payment_id: str


@dataclass(frozen=True)
class FulfilmentStarted:
    event_type: ClassVar[str] = "orders.FulfilmentStarted"
    schema_version: ClassVar[int] = 1

    order_id: str


@dataclass(frozen=True)
class FulfilmentAttemptFailed:
    """One attempt of the long-running fulfilment failed; it is tried again."""

    event_type: ClassVar[str] = "orders.FulfilmentAttemptFailed"
    schema_version: ClassVar[int] = 1

    order_id: str
    attempt: int
    error: str


@dataclass(frozen=True)
class FulfilmentRetried:
    """An operator asks the kitchen to try a stuck order again (attempts count from zero)."""

    event_type: ClassVar[str] = "orders.FulfilmentRetried"
    schema_version: ClassVar[int] = 1

    order_id: str


@dataclass(frozen=True)
class OrderFulfilled:
    event_type: ClassVar[str] = "orders.OrderFulfilled"
    schema_version: ClassVar[int] = 1

    order_id: str


@dataclass(frozen=True)
class OrderCancelled:
    """By the customer (or an operator), before payment."""

    event_type: ClassVar[str] = "orders.OrderCancelled"
    schema_version: ClassVar[int] = 1

    order_id: str
    reason: str


@dataclass(frozen=True)
class OrderRejected:
    """Not enough stock for a line."""

    event_type: ClassVar[str] = "orders.OrderRejected"
    schema_version: ClassVar[int] = 1

    order_id: str
    reason: str


@dataclass(frozen=True)
class PaymentFailed:
    """Declined by the provider, or not confirmed in time."""

    event_type: ClassVar[str] = "orders.PaymentFailed"
    schema_version: ClassVar[int] = 1

    order_id: str
    payment_id: str
    reason: str
