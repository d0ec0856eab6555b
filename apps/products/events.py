"""The products module's published language: the catalog, prices and stock. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar


@dataclass(frozen=True)
class ProductCreated:
    event_type: ClassVar[str] = "products.ProductCreated"
    schema_version: ClassVar[int] = 1

    product_id: str
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class ProductRenamed:
    event_type: ClassVar[str] = "products.ProductRenamed"
    schema_version: ClassVar[int] = 1

    product_id: str
    name: str


@dataclass(frozen=True)
class ProductDescribed:
    event_type: ClassVar[str] = "products.ProductDescribed"
    schema_version: ClassVar[int] = 1

    product_id: str
    description: str


@dataclass(frozen=True)
class PriceChanged:
    event_type: ClassVar[str] = "products.PriceChanged"
    schema_version: ClassVar[int] = 1

    product_id: str
    old_price: Decimal
    new_price: Decimal
    currency: str

    @property
    def dropped(self) -> bool:
        return self.new_price < self.old_price


@dataclass(frozen=True)
class StockReceived:
    event_type: ClassVar[str] = "products.StockReceived"
    schema_version: ClassVar[int] = 1

    product_id: str
    quantity: int
    stock_after: int


@dataclass(frozen=True)
class StockReserved:
    event_type: ClassVar[str] = "products.StockReserved"
    schema_version: ClassVar[int] = 1

    product_id: str
    reservation_id: str
    quantity: int
    stock_after: int


@dataclass(frozen=True)
class StockReleased:
    event_type: ClassVar[str] = "products.StockReleased"
    schema_version: ClassVar[int] = 1

    product_id: str
    reservation_id: str
    quantity: int
    stock_after: int


@dataclass(frozen=True)
class ProductPublished:
    event_type: ClassVar[str] = "products.ProductPublished"
    schema_version: ClassVar[int] = 1

    product_id: str


@dataclass(frozen=True)
class ProductUnpublished:
    event_type: ClassVar[str] = "products.ProductUnpublished"
    schema_version: ClassVar[int] = 1

    product_id: str


@dataclass(frozen=True)
class ProductDiscontinued:
    event_type: ClassVar[str] = "products.ProductDiscontinued"
    schema_version: ClassVar[int] = 1

    product_id: str
