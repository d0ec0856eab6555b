"""The catalog page builds each row straight from the database row, beside the fields its
schema documents: both must give the same output, or the schema lies to generated clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone as django_timezone

from apps.products.api.views import CatalogOutput
from apps.products.models import CatalogEntry

ROWS: list[dict[str, Any]] = [
    {
        "product_id": "4c1f0d2e-0000-4000-8000-000000000001",
        "sku": "MUG-001",
        "name": "Enamel mug",
        "description": "Holds 350 ml.",
        "price": Decimal("12.5000"),
        "currency": "EUR",
        "stock": 3,
        "published": True,
        "created_at": datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC),
    },
    {
        "product_id": "p-2",
        "sku": "TEA",
        "name": "Tea, \u00e9t\u00e9 \U0001f375",
        "description": "",
        "price": Decimal("1000.0000"),
        "currency": "JPY",
        "stock": 0,
        "published": False,
        "created_at": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    },
    {
        "product_id": "p-3",
        "sku": "X",
        "name": "Three decimals",
        "description": "d",
        "price": Decimal("0.1239"),
        "currency": "KWD",
        "stock": 2_000_000_000,
        "published": True,
        "created_at": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    },
]


def by_fields(serializer: CatalogOutput, row: Any) -> dict[str, Any]:
    """What DRF's own machinery makes of the declared fields."""
    return {
        name: field.to_representation(field.get_attribute(row))
        for name, field in serializer.fields.items()
    }


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["sku"])
def test_a_row_is_what_its_documented_fields_make_of_it(row: dict[str, Any]) -> None:
    serializer = CatalogOutput()
    assert serializer.to_representation(row) == by_fields(serializer, row)
    entry = CatalogEntry(**row)  # a model instance too, as the admin or a test may pass one
    assert serializer.to_representation(entry) == by_fields(serializer, entry)


def test_dates_follow_the_current_time_zone_as_drf_does() -> None:
    serializer = CatalogOutput()
    with django_timezone.override("Asia/Tokyo"):
        for row in ROWS:
            assert serializer.to_representation(row) == by_fields(serializer, row)
    assert serializer.to_representation(ROWS[0])["created_at"] == "2026-12-03T09:30:15.123456Z"


def test_every_documented_field_is_in_the_output() -> None:
    serializer = CatalogOutput()
    assert list(serializer.to_representation(ROWS[0])) == list(serializer.fields)
    assert set(CatalogOutput.COLUMNS) == {f.source for f in serializer.fields.values()}
