"""The products module's command handlers, and their table (`HANDLERS`, read by the command
bus: apps.shared.bus). A handler takes the command, and the product it changes; it records
events through the aggregate or raises a DomainError."""

from __future__ import annotations

import uuid

from apps.products import commands as c
from apps.products.aggregates import Product
from apps.shared.bus import Changes, Creates, HandlerTable, New
from eventstore.store import Claim

SKU_SCOPE = "products.sku"


def sku_key(sku: str) -> str:
    return sku.strip().upper()


def create_product(cmd: c.CreateProduct) -> New[Product]:
    product = Product.create(
        str(uuid.uuid4()),
        sku=cmd.sku.strip(),
        name=cmd.name.strip(),
        description=cmd.description,
        price=cmd.price,
        currency=cmd.currency,
    )
    return New(product, [Claim(SKU_SCOPE, sku_key(cmd.sku))])


def edit_product(cmd: c.EditProduct, product: Product) -> None:
    if cmd.name is not None:
        product.rename(cmd.name.strip())
    if cmd.description is not None:
        product.describe(cmd.description)


def change_price(cmd: c.ChangePrice, product: Product) -> None:
    product.change_price(cmd.price, cmd.currency)


def receive_stock(cmd: c.ReceiveStock, product: Product) -> None:
    product.receive_stock(cmd.quantity)


def reserve_stock(cmd: c.ReserveStock, product: Product) -> None:
    product.reserve(cmd.reservation_id, cmd.quantity)


def release_stock(cmd: c.ReleaseStock, product: Product) -> None:
    product.release(cmd.reservation_id)


def set_availability(cmd: c.SetAvailability, product: Product) -> None:
    match cmd.action:
        case "publish":
            product.publish()
        case "unpublish":
            product.unpublish()
        case "discontinue":
            product.discontinue()
        case _:
            raise ValueError(f"unknown availability action {cmd.action!r}")


HANDLERS: HandlerTable = {
    c.CreateProduct: Creates(create_product),
    c.EditProduct: Changes(Product, edit_product),
    c.ChangePrice: Changes(Product, change_price),
    c.ReceiveStock: Changes(Product, receive_stock),
    c.ReserveStock: Changes(Product, reserve_stock),
    c.ReleaseStock: Changes(Product, release_stock),
    c.SetAvailability: Changes(Product, set_availability),
}
