"""The canonical dump compares content: surrogate keys a rebuild assigns afresh are left out,
and a difference names the rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from apps.products.models import PriceHistoryEntry
from projections import registry
from projections.dump import differences, differing, dump

pytestmark = pytest.mark.django_db


def price_history() -> dict[str, object]:
    return dump(registry.get("products.price_history"))


def some_history() -> None:
    at = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    for version, price in enumerate(("10.00", "9.00", "8.00"), start=1):
        PriceHistoryEntry.objects.create(
            product_id="lamp",
            version=version,
            new_price=Decimal(price),
            currency="EUR",
            changed_at=at,
        )


def test_equal_content_under_other_surrogate_keys_has_no_difference() -> None:
    some_history()
    before = price_history()
    with connection.cursor() as cur:  # what a rebuild does: the same rows, other ids
        cur.execute("UPDATE products_price_history SET id = id + 1000")
    after = price_history()
    assert differences(before, after) == 0
    assert differing(before, after) == []


def test_one_differing_row_is_counted_and_named() -> None:
    some_history()
    before = price_history()
    PriceHistoryEntry.objects.filter(version=2).update(new_price=Decimal("9.50"))
    after = price_history()
    assert differences(before, after) == 2  # the row as it was, and as it is
    named = differing(before, after, sides=("live", "shadow"))
    assert len(named) == 2
    assert named[0].startswith("products_price_history: only in live: ")
    assert '"new_price":9.0000' in named[0] and '"version":2' in named[0]
    assert named[1].startswith("products_price_history: only in shadow: ")
    assert '"new_price":9.5000' in named[1]


def test_a_row_present_twice_in_one_dump_and_once_in_the_other_differs() -> None:
    a = {"t": ['{"x":1}', '{"x":1}']}
    b = {"t": ['{"x":1}']}
    assert differing(a, b) == ['t: only in the first: {"x":1}']
