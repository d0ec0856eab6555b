"""Money as every API answer writes it: an amount in its currency's minor units, as a decimal
string (`"12.50"` EUR, `"1000"` JPY). Requests may send fewer decimals (`"12.5"`), never more.
Plain Python: the aggregates use it too (the API's field is `apps.shared.api.Amount`).
"""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 codes the shop prices in, with their minor units (decimal places).
CURRENCIES: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "PLN": 2,
    "JPY": 0,
}
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"


def amount(value: Decimal | str | int, currency: str) -> str:
    """`Decimal("12.5000")`, "EUR" -> "12.50"; an unknown currency keeps the value's own
    decimals (a read model never holds one: commands refuse it)."""
    exact = Decimal(value)
    places = CURRENCIES.get(currency)
    if places is None:
        return format(exact.normalize(), "f")
    return format(exact.quantize(Decimal(1).scaleb(-places)), "f")


def from_minor(units: int, currency: str) -> str:
    """1250 cents, "EUR" -> "12.50"; 1000, "JPY" -> "1000"."""
    return amount(Decimal(units).scaleb(-CURRENCIES.get(currency, 0)), currency)


def to_minor(value: Decimal, currency: str) -> int:
    return int(value.scaleb(CURRENCIES[currency]))
