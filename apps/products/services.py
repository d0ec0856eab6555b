"""Command handlers of the products module."""

from __future__ import annotations

import uuid
from decimal import Decimal

from apps.products import commands as c
from apps.products.aggregates import Product
from apps.shared.commands import Context, create, update
from eventstore.commands import CommandResult
from eventstore.store import Claim

SKU_SCOPE = "products.sku"


def sku_key(sku: str) -> str:
    return sku.strip().upper()


def create_product(
    *, sku: str, name: str, description: str, price: Decimal, currency: str, ctx: Context
) -> CommandResult:
    product = Product.create(
        str(uuid.uuid4()),
        sku=sku.strip(),
        name=name.strip(),
        description=description,
        price=price,
        currency=currency,
    )
    return create(
        product,
        ctx=ctx,
        command=c.CreateProduct(sku_key(sku), name, description, price, currency),
        reservations=[Claim(SKU_SCOPE, sku_key(sku))],
    )


def edit_product(
    *, product_id: str, name: str | None, description: str | None, ctx: Context
) -> CommandResult:
    def act(p: Product) -> None:
        if name is not None:
            p.rename(name.strip())
        if description is not None:
            p.describe(description)

    return update(
        Product, product_id, act, ctx=ctx, command=c.EditProduct(product_id, name, description)
    )


def change_price(*, product_id: str, price: Decimal, currency: str, ctx: Context) -> CommandResult:
    return update(
        Product,
        product_id,
        lambda p: p.change_price(price, currency),
        ctx=ctx,
        command=c.ChangePrice(product_id, price, currency),
    )


def receive_stock(*, product_id: str, quantity: int, ctx: Context) -> CommandResult:
    return update(
        Product,
        product_id,
        lambda p: p.receive_stock(quantity),
        ctx=ctx,
        command=c.ReceiveStock(product_id, quantity),
    )


def reserve_stock(
    *, product_id: str, reservation_id: str, quantity: int, ctx: Context
) -> CommandResult:
    return update(
        Product,
        product_id,
        lambda p: p.reserve(reservation_id, quantity),
        ctx=ctx,
        command=c.ReserveStock(product_id, reservation_id, quantity),
    )


def release_stock(*, product_id: str, reservation_id: str, ctx: Context) -> CommandResult:
    return update(
        Product,
        product_id,
        lambda p: p.release(reservation_id),
        ctx=ctx,
        command=c.ReleaseStock(product_id, reservation_id),
    )


def set_availability(*, product_id: str, action: str, ctx: Context) -> CommandResult:
    """`action` is publish, unpublish or discontinue."""
    if action not in ("publish", "unpublish", "discontinue"):
        raise ValueError(f"unknown availability action {action!r}")
    return update(
        Product,
        product_id,
        lambda p: getattr(p, action)(),
        ctx=ctx,
        command=c.SetAvailability(product_id, action),
    )
