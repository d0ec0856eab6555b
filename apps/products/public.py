"""The products module's facade for other modules."""

from __future__ import annotations

from django.db import connection

from apps.products.models import CatalogEntry

PRODUCT_STREAM_TYPE = "products.Product"


def product_exists(product_id: str) -> bool:
    """A product with this id was created (its event stream exists)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM es_stream WHERE stream_id = %s AND stream_type = %s",
            [product_id, PRODUCT_STREAM_TYPE],
        )
        return cur.fetchone() is not None


def product_name(product_id: str) -> str | None:
    """The product's name as the catalog knows it (None if it does not, yet)."""
    return CatalogEntry.objects.filter(product_id=product_id).values_list("name", flat=True).first()
