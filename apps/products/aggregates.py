"""The Product aggregate: catalog data, price, stock and reservations. Pure Python."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from apps.products.events import (
    PriceChanged,
    ProductCreated,
    ProductDescribed,
    ProductDiscontinued,
    ProductPublished,
    ProductRenamed,
    ProductUnpublished,
    StockReceived,
    StockReleased,
    StockReserved,
)
from apps.shared.errors import DomainError, InvalidCommand
from apps.shared.money import CURRENCIES
from eventstore.aggregate import Aggregate, applies

STREAM_TYPE = "products.Product"
MAX_PRICE = Decimal("1000000")
MAX_QUANTITY = 1_000_000


class Discontinued(DomainError):
    code = "discontinued"


class InsufficientStock(DomainError):
    code = "insufficient_stock"


class UnknownReservation(DomainError):
    status = 404
    code = "not_found"


def money(price: Decimal, currency: str) -> Decimal:
    """The price in the currency's minor units (`10.0000` EUR -> `10.00`), or InvalidCommand."""
    if currency not in CURRENCIES:
        raise InvalidCommand(f"unknown currency {currency!r}; one of {', '.join(CURRENCIES)}")
    if not price.is_finite() or price <= 0:
        raise InvalidCommand("a price must be more than zero")
    if price > MAX_PRICE:
        raise InvalidCommand(f"a price must be at most {MAX_PRICE}")
    exact = price.quantize(Decimal(1).scaleb(-CURRENCIES[currency]))
    if exact != price:
        raise InvalidCommand(f"{currency} has {CURRENCIES[currency]} decimal places at most")
    return exact


def check_quantity(quantity: int) -> None:
    if not 0 < quantity <= MAX_QUANTITY:
        raise InvalidCommand(f"a quantity must be between 1 and {MAX_QUANTITY}")


def check_text(name: str, value: str, *, limit: int, blank: bool = False) -> None:
    if not blank and not value.strip():
        raise InvalidCommand(f"the {name} may not be blank")
    if len(value) > limit:
        raise InvalidCommand(f"the {name} may be {limit} characters at most")


class Product(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE

    sku: str = ""
    name: str = ""
    description: str = ""
    price: Decimal = Decimal(0)
    currency: str = ""
    stock: int = 0
    reservations: dict[str, int] = {}  # noqa: RUF012 - copied per instance by Aggregate
    released: list[str] = []  # noqa: RUF012
    published: bool = False
    discontinued: bool = False

    @classmethod
    def create(
        cls,
        product_id: str,
        *,
        sku: str,
        name: str,
        description: str,
        price: Decimal,
        currency: str,
    ) -> Product:
        check_text("SKU", sku, limit=64)
        check_text("name", name, limit=200)
        check_text("description", description, limit=5000, blank=True)
        price = money(price, currency)
        product = cls(product_id)
        product._record(
            ProductCreated(
                product_id=product_id,
                sku=sku,
                name=name,
                description=description,
                price=price,
                currency=currency,
            )
        )
        return product

    def _check_live(self) -> None:
        if self.discontinued:
            raise Discontinued(f"product {self.id} is discontinued: it no longer changes")

    def rename(self, name: str) -> None:
        self._check_live()
        check_text("name", name, limit=200)
        if name != self.name:
            self._record(ProductRenamed(product_id=self.id, name=name))

    def describe(self, description: str) -> None:
        self._check_live()
        check_text("description", description, limit=5000, blank=True)
        if description != self.description:
            self._record(ProductDescribed(product_id=self.id, description=description))

    def change_price(self, price: Decimal, currency: str) -> None:
        self._check_live()
        price = money(price, currency)
        if currency != self.currency:
            raise InvalidCommand(f"this product is priced in {self.currency}")
        if price != self.price:
            self._record(
                PriceChanged(
                    product_id=self.id, old_price=self.price, new_price=price, currency=currency
                )
            )

    def receive_stock(self, quantity: int) -> None:
        self._check_live()
        check_quantity(quantity)
        self._record(
            StockReceived(product_id=self.id, quantity=quantity, stock_after=self.stock + quantity)
        )

    def reserve(self, reservation_id: str, quantity: int) -> None:
        self._check_live()
        check_quantity(quantity)
        if reservation_id in self.reservations or reservation_id in self.released:
            raise DomainError(f"reservation {reservation_id} exists already")
        if quantity > self.stock:
            raise InsufficientStock(f"only {self.stock} in stock, {quantity} asked for")
        self._record(
            StockReserved(
                product_id=self.id,
                reservation_id=reservation_id,
                quantity=quantity,
                stock_after=self.stock - quantity,
            )
        )

    def release(self, reservation_id: str) -> None:
        self._check_live()
        if reservation_id in self.released:
            raise DomainError(f"reservation {reservation_id} was released already")
        quantity = self.reservations.get(reservation_id)
        if quantity is None:
            raise UnknownReservation(f"no reservation {reservation_id}")
        self._record(
            StockReleased(
                product_id=self.id,
                reservation_id=reservation_id,
                quantity=quantity,
                stock_after=self.stock + quantity,
            )
        )

    def publish(self) -> None:
        self._check_live()
        if self.published:
            raise DomainError("the product is published already")
        self._record(ProductPublished(product_id=self.id))

    def unpublish(self) -> None:
        self._check_live()
        if not self.published:
            raise DomainError("the product is not published")
        self._record(ProductUnpublished(product_id=self.id))

    def discontinue(self) -> None:
        self._check_live()
        self._record(ProductDiscontinued(product_id=self.id))

    # -- appliers

    @applies(ProductCreated)
    def _created(self, e: ProductCreated) -> None:
        self.sku, self.name, self.description = e.sku, e.name, e.description
        self.price, self.currency = e.price, e.currency

    @applies(ProductRenamed)
    def _renamed(self, e: ProductRenamed) -> None:
        self.name = e.name

    @applies(ProductDescribed)
    def _described(self, e: ProductDescribed) -> None:
        self.description = e.description

    @applies(PriceChanged)
    def _priced(self, e: PriceChanged) -> None:
        self.price = e.new_price

    @applies(StockReceived)
    def _received(self, e: StockReceived) -> None:
        self.stock = e.stock_after

    @applies(StockReserved)
    def _reserved(self, e: StockReserved) -> None:
        self.stock = e.stock_after
        self.reservations = {**self.reservations, e.reservation_id: e.quantity}

    @applies(StockReleased)
    def _released(self, e: StockReleased) -> None:
        self.stock = e.stock_after
        self.reservations = {k: v for k, v in self.reservations.items() if k != e.reservation_id}
        self.released = [*self.released, e.reservation_id]

    @applies(ProductPublished, ProductUnpublished)
    def _published(self, e: ProductPublished | ProductUnpublished) -> None:
        self.published = isinstance(e, ProductPublished)

    @applies(ProductDiscontinued)
    def _discontinued(self, e: ProductDiscontinued) -> None:
        self.discontinued = True
        self.published = False
