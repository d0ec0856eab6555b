"""Reads of the products module's read models, for its API: the catalog and the price history
in Postgres, the product pages and the leaderboards in Redis."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django_redis import get_redis_connection

from apps.products.models import CatalogEntry, PriceHistoryEntry
from apps.products.read_models import Details, Leaderboards
from apps.shared.money import amount

TOP = 20
BOARDS = ("most-watched", "most-viewed", "lowest-stock", "low-stock")


def views_key() -> str:
    """The sorted set of page views per product (counted by the product page, not an event)."""
    return f"{settings.REDIS_KEY_PREFIX}:products:views"


def catalog() -> QuerySet[CatalogEntry]:
    """The products on sale: published and not discontinued."""
    return CatalogEntry.objects.filter(published=True, discontinued=False)


def price_history(product_id: str, *, staff: bool) -> QuerySet[PriceHistoryEntry] | None:
    """Each price a product had; None when the reader may not see the product (it is not in
    the catalog and the reader is not staff), as for its page."""
    if not staff and not catalog().filter(product_id=product_id).exists():
        return None
    return PriceHistoryEntry.objects.filter(product_id=product_id)


def product_page(product_id: str, *, staff: bool) -> dict[str, Any] | None:
    """A product's page, counting the view; None when there is none, or when it is not
    published and the reader is not staff."""
    client = get_redis_connection("default")
    raw = client.hgetall(Details.live().key("product", product_id))
    product = {k.decode(): v.decode() for k, v in raw.items()}
    if not product or (product.get("published") != "1" and not staff):
        return None
    views = client.zincrby(views_key(), 1, product_id)
    return {
        **product,
        "price": amount(product["price"], product["currency"]),
        "stock": int(product["stock"]),
        "published": product["published"] == "1",
        "discontinued": product["discontinued"] == "1",
        "version": int(product["version"]),
        "views": int(views),
    }


def leaderboard(board: str) -> list[Any] | None:
    """The top of a board (most-watched, most-viewed, lowest-stock: ids with scores) or the
    low-stock ids; None for no such board."""
    client = get_redis_connection("default")
    ns = Leaderboards.live()
    if board == "low-stock":
        return sorted(m.decode() for m in client.smembers(ns.key("low_stock")))
    keys = {
        "most-watched": ns.key("most_watched"),
        "most-viewed": views_key(),
        "lowest-stock": ns.key("lowest_stock"),
    }
    if board not in keys:
        return None
    ranked = (
        client.zrange(keys[board], 0, TOP - 1, withscores=True)
        if board == "lowest-stock"
        else client.zrevrange(keys[board], 0, TOP - 1, withscores=True)
    )
    return [{"id": m.decode(), "score": int(s)} for m, s in ranked]
