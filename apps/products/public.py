"""The products module's facade for other modules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from apps.products.models import CatalogEntry
from apps.shared.money import to_minor
from eventstore.runtime import get_store

PRODUCT_STREAM_TYPE = "products.Product"


def product_exists(product_id: str) -> bool:
    """A product with this id was created (its event stream exists)."""
    first = get_store().read(product_id, to_version=1)
    return bool(first) and first[0].stream_type == PRODUCT_STREAM_TYPE


def product_name(product_id: str) -> str | None:
    """The product's name as the catalog knows it (None if it does not, yet)."""
    return CatalogEntry.objects.filter(product_id=product_id).values_list("name", flat=True).first()


@dataclass(frozen=True)
class Quote:
    unit_price: int  # in the currency's minor units
    currency: str


def quote(product_ids: Iterable[str]) -> dict[str, Quote]:
    """The catalog's price now of each of these products that is on sale (published, not
    discontinued); the others are left out."""
    on_sale = CatalogEntry.objects.filter(
        product_id__in=list(product_ids), published=True, discontinued=False
    ).values_list("product_id", "price", "currency")
    return {
        product_id: Quote(to_minor(price, currency), currency)
        for product_id, price, currency in on_sale
    }
