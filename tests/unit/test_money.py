"""Money as the API writes it: the currency's minor units, as a decimal string."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.shared.api import Amount
from apps.shared.money import amount, from_minor, to_minor


@pytest.mark.parametrize(
    ("value", "currency", "written"),
    [
        (Decimal("12.5000"), "EUR", "12.50"),
        (Decimal("12.5"), "EUR", "12.50"),
        ("9.99", "USD", "9.99"),
        (Decimal("1000.0000"), "JPY", "1000"),
        (Decimal("1000"), "JPY", "1000"),
        (Decimal("0.0100"), "GBP", "0.01"),
        (Decimal("1000000"), "CHF", "1000000.00"),
        (Decimal("7.2500"), "XXX", "7.25"),  # a currency the shop does not know: its own digits
    ],
)
def test_amounts_are_written_in_the_currencys_minor_units(
    value: Decimal | str, currency: str, written: str
) -> None:
    assert amount(value, currency) == written


def test_minor_units_round_trip() -> None:
    assert from_minor(1250, "EUR") == "12.50"
    assert from_minor(1000, "JPY") == "1000"
    assert from_minor(5, "EUR") == "0.05"
    assert to_minor(Decimal("12.50"), "EUR") == 1250
    assert to_minor(Decimal("1000"), "JPY") == 1000


def test_the_output_field_reads_the_currency_beside_the_amount() -> None:
    field = Amount()
    field.bind("price", None)  # type: ignore[arg-type]
    row = {"price": Decimal("3.5000"), "currency": "EUR"}
    assert field.to_representation(field.get_attribute(row)) == "3.50"
    cents = Amount(minor=True)
    cents.bind("unit_price", None)  # type: ignore[arg-type]
    assert (
        cents.to_representation(cents.get_attribute({"unit_price": 350, "currency": "JPY"}))
        == "350"
    )
