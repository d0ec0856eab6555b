"""The products module's facade for other modules."""

from __future__ import annotations

from apps.products.models import CatalogEntry
from eventstore.runtime import get_store

PRODUCT_STREAM_TYPE = "products.Product"


def product_exists(product_id: str) -> bool:
    """A product with this id was created (its event stream exists)."""
    first = get_store().read(product_id, to_version=1)
    return bool(first) and first[0].stream_type == PRODUCT_STREAM_TYPE


def product_name(product_id: str) -> str | None:
    """The product's name as the catalog knows it (None if it does not, yet)."""
    return CatalogEntry.objects.filter(product_id=product_id).values_list("name", flat=True).first()
