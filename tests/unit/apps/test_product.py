"""The Product aggregate: given events, a command, the events it records or the error."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from apps.products.aggregates import (
    Discontinued,
    InsufficientStock,
    Product,
    UnknownReservation,
)
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
from tests.support.given import given, recorded

ID = "5a1e0000-0000-4000-8000-000000000001"
R1 = "5a1e0000-0000-4000-8000-0000000000r1"
CREATED = ProductCreated(
    product_id=ID, sku="SKU-1", name="Lamp", description="", price=Decimal("20.00"), currency="EUR"
)
STOCKED = StockReceived(product_id=ID, quantity=5, stock_after=5)


def test_create_records_the_product() -> None:
    p = Product.create(
        ID, sku="SKU-1", name="Lamp", description="", price=Decimal("20.00"), currency="EUR"
    )
    assert recorded(p) == [CREATED]


@pytest.mark.parametrize(
    ("price", "currency", "message"),
    [
        (Decimal("0"), "EUR", "more than zero"),
        (Decimal("-1"), "EUR", "more than zero"),
        (Decimal("NaN"), "EUR", "more than zero"),
        (Decimal("1.001"), "EUR", "decimal places"),
        (Decimal("1.5"), "JPY", "decimal places"),
        (Decimal("5"), "XYZ", "unknown currency"),
        (Decimal("10000000"), "EUR", "at most"),
    ],
)
def test_create_refuses_bad_prices(price: Decimal, currency: str, message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        Product.create(ID, sku="S", name="N", description="", price=price, currency=currency)


def test_create_refuses_blank_names_and_skus() -> None:
    with pytest.raises(InvalidCommand, match="name"):
        Product.create(ID, sku="S", name="  ", description="", price=Decimal(1), currency="EUR")
    with pytest.raises(InvalidCommand, match="SKU"):
        Product.create(ID, sku="", name="N", description="", price=Decimal(1), currency="EUR")


def test_rename_and_describe_record_changes_only() -> None:
    p = given(Product, ID, CREATED)
    p.rename("Lamp")
    p.rename("Desk lamp")
    p.describe("Bright")
    assert recorded(p) == [
        ProductRenamed(product_id=ID, name="Desk lamp"),
        ProductDescribed(product_id=ID, description="Bright"),
    ]


def test_change_price_records_old_and_new_and_refuses_a_non_positive_or_other_currency() -> None:
    p = given(Product, ID, CREATED)
    p.change_price(Decimal("15.00"), "EUR")
    assert recorded(p) == [
        PriceChanged(
            product_id=ID, old_price=Decimal("20.00"), new_price=Decimal("15.00"), currency="EUR"
        )
    ]
    assert recorded(p)[0].dropped
    with pytest.raises(InvalidCommand, match="more than zero"):
        p.change_price(Decimal("0"), "EUR")
    with pytest.raises(InvalidCommand, match="priced in EUR"):
        p.change_price(Decimal("15"), "USD")


def test_receive_stock_adds_and_refuses_non_positive_quantities() -> None:
    p = given(Product, ID, CREATED, STOCKED)
    p.receive_stock(3)
    assert recorded(p) == [StockReceived(product_id=ID, quantity=3, stock_after=8)]
    for bad in (0, -2, 10**9):
        with pytest.raises(InvalidCommand, match="quantity"):
            p.receive_stock(bad)


def test_reserve_takes_stock_and_never_below_zero() -> None:
    p = given(Product, ID, CREATED, STOCKED)
    p.reserve(R1, 5)
    assert recorded(p) == [
        StockReserved(product_id=ID, reservation_id=R1, quantity=5, stock_after=0)
    ]
    with pytest.raises(InsufficientStock, match="only 0 in stock"):
        p.reserve("r2", 1)
    with pytest.raises(DomainError, match="exists already"):
        given(Product, ID, CREATED, STOCKED, *recorded(p)).reserve(R1, 1)


def test_a_reservation_is_released_exactly_once() -> None:
    reserved = StockReserved(product_id=ID, reservation_id=R1, quantity=2, stock_after=3)
    p = given(Product, ID, CREATED, STOCKED, reserved)
    p.release(R1)
    assert recorded(p) == [
        StockReleased(product_id=ID, reservation_id=R1, quantity=2, stock_after=5)
    ]
    with pytest.raises(DomainError, match="released already"):
        p.release(R1)
    with pytest.raises(UnknownReservation):
        p.release("never-made")


def test_publish_and_unpublish_alternate() -> None:
    p = given(Product, ID, CREATED)
    p.publish()
    assert recorded(p) == [ProductPublished(product_id=ID)]
    with pytest.raises(DomainError, match="published already"):
        p.publish()
    p.unpublish()
    assert recorded(p)[-1] == ProductUnpublished(product_id=ID)
    with pytest.raises(DomainError, match="not published"):
        p.unpublish()


COMMANDS: list[Callable[[Product], None]] = [
    lambda p: p.rename("X"),
    lambda p: p.describe("X"),
    lambda p: p.change_price(Decimal(1), "EUR"),
    lambda p: p.receive_stock(1),
    lambda p: p.reserve("r9", 1),
    lambda p: p.release(R1),
    lambda p: p.publish(),
    lambda p: p.unpublish(),
    lambda p: p.discontinue(),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_discontinued_product_refuses_every_change(command: Callable[[Product], None]) -> None:
    reserved = StockReserved(product_id=ID, reservation_id=R1, quantity=1, stock_after=4)
    p = given(Product, ID, CREATED, STOCKED, reserved, ProductDiscontinued(product_id=ID))
    with pytest.raises(Discontinued):
        command(p)
    assert recorded(p) == []


def test_a_price_with_trailing_zeros_is_kept_in_minor_units() -> None:
    p = Product.create(
        ID, sku="S", name="N", description="", price=Decimal("10.0000"), currency="EUR"
    )
    assert str(p.price) == "10.00"
    yen = Product.create(
        ID, sku="S", name="N", description="", price=Decimal("500.00"), currency="JPY"
    )
    assert str(yen.price) == "500"
