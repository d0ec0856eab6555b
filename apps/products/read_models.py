"""The products module's read models.

- `products.catalog` (Postgres): every product, for the catalog query (published ones) and staff.
- `products.price_history` (Postgres): each price a product had.
- `products.details` (Redis): one hash per product, the detail page's cache.
- `products.leaderboards` (Redis): sorted sets `most_watched` (from users' watch events) and
  `lowest_stock`, and the set `low_stock` (stock below PRODUCTS_LOW_STOCK_THRESHOLD).
The catalog and price history only write, so their batches are pipelined.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

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
from apps.users.events import ProductUnwatched, ProductWatched
from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, RedisProjection, handles

STOCK_EVENTS = (StockReceived, StockReserved, StockReleased)


class Catalog(PostgresProjection):
    name = "products.catalog"
    topics = ("products",)
    tables = ("products_catalog",)
    pipelined = True

    @handles(ProductCreated)
    def _created(self, cur: Any, e: EventEnvelope) -> None:
        p: ProductCreated = e.payload
        cur.execute(
            "INSERT INTO products_catalog (product_id, sku, name, description, price, currency, "
            "stock, published, discontinued, version, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, 0, false, false, %s, %s, %s)",
            [
                e.stream_id,
                p.sku,
                p.name,
                p.description,
                p.price,
                p.currency,
                e.stream_version,
                e.occurred_at,
                e.occurred_at,
            ],
        )

    @handles(ProductRenamed)
    def _renamed(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "name = %s", [e.payload.name])

    @handles(ProductDescribed)
    def _described(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "description = %s", [e.payload.description])

    @handles(PriceChanged)
    def _priced(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "price = %s", [e.payload.new_price])

    @handles(*STOCK_EVENTS)
    def _stock(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "stock = %s", [e.payload.stock_after])

    @handles(ProductPublished, ProductUnpublished)
    def _published(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "published = %s", [isinstance(e.payload, ProductPublished)])

    @handles(ProductDiscontinued)
    def _discontinued(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "discontinued = true, published = false", [])

    @staticmethod
    def _set(cur: Any, e: EventEnvelope, assignments: str, params: list[Any]) -> None:
        cur.execute(
            f"UPDATE products_catalog SET {assignments}, version = %s, updated_at = %s "  # noqa: S608 - fixed SQL
            "WHERE product_id = %s",
            [*params, e.stream_version, e.occurred_at, e.stream_id],
        )


class PriceHistory(PostgresProjection):
    name = "products.price_history"
    topics = ("products",)
    tables = ("products_price_history",)
    pipelined = True

    @handles(ProductCreated, PriceChanged)
    def _priced(self, cur: Any, e: EventEnvelope) -> None:
        p = e.payload
        old, new = (None, p.price) if isinstance(p, ProductCreated) else (p.old_price, p.new_price)
        cur.execute(
            "INSERT INTO products_price_history (product_id, version, old_price, new_price, "
            "currency, changed_at) VALUES (%s, %s, %s, %s, %s, %s)",
            [e.stream_id, e.stream_version, old, new, p.currency, e.occurred_at],
        )


class Details(RedisProjection):
    """`<ns>:product:<id>`: a hash of the product's fields, all strings."""

    name = "products.details"
    topics = ("products",)

    def _hset(self, pipe: Any, e: EventEnvelope, **fields: object) -> None:
        mapping = {k: str(v) for k, v in fields.items()}
        pipe.hset(
            self.key("product", e.stream_id), mapping={**mapping, "version": e.stream_version}
        )

    @handles(ProductCreated)
    def _created(self, pipe: Any, e: EventEnvelope) -> None:
        p: ProductCreated = e.payload
        self._hset(
            pipe,
            e,
            id=e.stream_id,
            sku=p.sku,
            name=p.name,
            description=p.description,
            price=p.price,
            currency=p.currency,
            stock=0,
            published=0,
            discontinued=0,
            created_at=e.occurred_at.isoformat(),
        )

    @handles(ProductRenamed)
    def _renamed(self, pipe: Any, e: EventEnvelope) -> None:
        self._hset(pipe, e, name=e.payload.name)

    @handles(ProductDescribed)
    def _described(self, pipe: Any, e: EventEnvelope) -> None:
        self._hset(pipe, e, description=e.payload.description)

    @handles(PriceChanged)
    def _priced(self, pipe: Any, e: EventEnvelope) -> None:
        self._hset(pipe, e, price=e.payload.new_price)

    @handles(*STOCK_EVENTS)
    def _stock(self, pipe: Any, e: EventEnvelope) -> None:
        self._hset(pipe, e, stock=e.payload.stock_after)

    @handles(ProductPublished, ProductUnpublished)
    def _published(self, pipe: Any, e: EventEnvelope) -> None:
        self._hset(pipe, e, published=int(isinstance(e.payload, ProductPublished)))

    @handles(ProductDiscontinued)
    def _discontinued(self, pipe: Any, e: EventEnvelope) -> None:
        self._hset(pipe, e, published=0, discontinued=1)


class Leaderboards(RedisProjection):
    name = "products.leaderboards"
    topics = ("products", "users")

    @handles(ProductCreated)
    def _created(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.zadd(self.key("lowest_stock"), {e.stream_id: 0})
        self._low(pipe, e.stream_id, 0)

    @handles(*STOCK_EVENTS)
    def _stock(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.zadd(self.key("lowest_stock"), {e.stream_id: e.payload.stock_after})
        self._low(pipe, e.stream_id, e.payload.stock_after)

    @handles(ProductDiscontinued)
    def _discontinued(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.zrem(self.key("lowest_stock"), e.stream_id)
        pipe.srem(self.key("low_stock"), e.stream_id)

    @handles(ProductWatched, ProductUnwatched)
    def _watched(self, pipe: Any, e: EventEnvelope) -> None:
        delta = 1 if isinstance(e.payload, ProductWatched) else -1
        pipe.zincrby(self.key("most_watched"), delta, e.payload.product_id)

    def _low(self, pipe: Any, product_id: str, stock: int) -> None:
        if stock < settings.PRODUCTS_LOW_STOCK_THRESHOLD:
            pipe.sadd(self.key("low_stock"), product_id)
        else:
            pipe.srem(self.key("low_stock"), product_id)
