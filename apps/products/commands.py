"""What callers may ask of the products module (imperative, frozen)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class CreateProduct:
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class EditProduct:
    product_id: str
    name: str | None
    description: str | None


@dataclass(frozen=True)
class ChangePrice:
    product_id: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class ReceiveStock:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class ReserveStock:
    product_id: str
    reservation_id: str
    quantity: int


@dataclass(frozen=True)
class ReleaseStock:
    product_id: str
    reservation_id: str


@dataclass(frozen=True)
class SetAvailability:
    """Publish, unpublish or discontinue."""

    product_id: str
    action: str
