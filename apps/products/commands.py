"""What callers may ask of the products module (imperative, frozen): the messages the command
bus (apps.shared.bus) hands to the handlers in handlers.py. A command that changes a product
names its stream (`stream_id`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Availability = Literal["publish", "unpublish", "discontinue"]


@dataclass(frozen=True)
class CreateProduct:
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class ProductCommand:
    product_id: str

    @property
    def stream_id(self) -> str:
        return self.product_id


@dataclass(frozen=True)
class EditProduct(ProductCommand):
    """Rename, describe, or both (None leaves a field as it is)."""

    name: str | None
    description: str | None


@dataclass(frozen=True)
class ChangePrice(ProductCommand):
    price: Decimal
    currency: str


@dataclass(frozen=True)
class ReceiveStock(ProductCommand):
    quantity: int


@dataclass(frozen=True)
class ReserveStock(ProductCommand):
    reservation_id: str
    quantity: int


@dataclass(frozen=True)
class ReleaseStock(ProductCommand):
    reservation_id: str


@dataclass(frozen=True)
class SetAvailability(ProductCommand):
    """Publish, unpublish or discontinue."""

    action: Availability
