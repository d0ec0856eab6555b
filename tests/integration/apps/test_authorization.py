"""The authorization matrix: every endpoint and method, for anonymous, owner, another user,
staff and admin, with the exact status each must get. A test fails when an endpoint exists
that the matrix does not list.

Each cell runs against fresh people (the owner is the person the URL is about, or the caller
for `me` endpoints), so a cell that changes state (erase, lock, password) cannot leak into
another."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.accounts import commands as accounts
from apps.notifications import commands as notifications
from apps.orders import commands as orders
from apps.orders.events import OrderLine
from apps.products import commands as products
from apps.shared.bus import dispatch
from apps.users import commands as users
from eventstore.runtime import get_store
from tests.support import shop
from tests.support.accounts import PASSWORD, Person, anonymous, person
from tests.support.engine import catch_up_all_partitions, relay
from tests.support.store_contract import opened

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("anonymous", "owner", "other", "staff", "admin")


@dataclass
class Cell:
    owner: Person
    callers: dict[str, Person]
    product_id: str = ""
    reservation_id: str = ""
    notification_id: str = ""
    order_id: str = ""


@dataclass
class Row:
    name: str
    method: str
    expected: dict[str, int]
    kwargs: Callable[[Cell], dict[str, str]] = lambda cell: {}
    body: Callable[[Cell, str], dict[str, Any] | None] = lambda cell, role: None
    setup: Callable[[Cell], None] = lambda cell: None
    me: bool = False  # the caller acts on itself: "owner" and "other" are both themselves
    read_models: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


def every(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def logged_in(status: int) -> dict[str, int]:
    return {**every(status), "anonymous": 401}


def owner_or_staff(status: int) -> dict[str, int]:
    return {"anonymous": 401, "owner": status, "other": 403, "staff": status, "admin": status}


def staff_only(status: int) -> dict[str, int]:
    return {"anonymous": 401, "owner": 403, "other": 403, "staff": status, "admin": status}


def admin_only(status: int) -> dict[str, int]:
    return {"anonymous": 401, "owner": 403, "other": 403, "staff": 403, "admin": status}


def account(cell: Cell) -> dict[str, str]:
    return {"account_id": cell.owner.account_id}


def a_product() -> str:
    product_id = str(uuid.uuid4())
    get_store().append(product_id, "products.Product", [opened()], expected_version=0)
    return product_id


def watching(cell: Cell) -> None:
    cell.product_id = a_product()
    for p in [cell.owner, *cell.callers.values()]:
        dispatch(users.WatchProduct(profile_id=p.account_id, product_id=cell.product_id))


def shop_product(cell: Cell, *, publish: bool = True) -> None:
    cell.product_id = shop.a_product(publish=publish)


def reserved(cell: Cell) -> None:
    shop_product(cell)
    cell.reservation_id = str(uuid.uuid4())
    dispatch(
        products.ReserveStock(
            product_id=cell.product_id, reservation_id=cell.reservation_id, quantity=1
        )
    )


def notified(cell: Cell) -> None:
    result = dispatch(
        notifications.Notify(
            recipient_id=cell.owner.account_id,
            kind="welcome",
            subject="Hi",
            body="Welcome",
            channels=("inbox",),
            source_event_id=str(uuid.uuid4()),
        )
    )
    assert result is not None
    cell.notification_id = result.stream_id


def ordered(cell: Cell) -> None:
    line = OrderLine(str(uuid.uuid4()), 1, 1000, "EUR")
    cell.order_id = dispatch(orders.PlaceOrder(cell.owner.account_id, (line,))).stream_id


def product(cell: Cell) -> dict[str, str]:
    return {"product_id": cell.product_id}


def new_product(cell: Cell, role: str) -> dict[str, Any]:
    return {"sku": f"SKU-{uuid.uuid4().hex}", "name": "Chair", "price": "10.00", "currency": "EUR"}


def _lock(p: Person) -> None:
    dispatch(accounts.LockAccount(account_id=p.account_id, reason="t"))


MATRIX = [
    Row("api-root", "GET", every(200)),
    Row("api-schema", "GET", every(200)),
    Row("api-docs", "GET", every(200)),
    Row("api-redoc", "GET", every(200)),
    Row(
        "account-register",
        "POST",
        every(201),
        body=lambda c, r: {"email": f"new-{uuid.uuid4().hex}@example.com", "password": PASSWORD},
    ),
    Row(
        "auth-token",
        "POST",
        every(200),
        body=lambda c, r: {"email": c.owner.email, "password": PASSWORD},
    ),
    Row(
        "auth-token-refresh",
        "POST",
        every(200),
        body=lambda c, r: {"refresh": c.owner.refresh_token()},
    ),
    Row(
        "auth-logout",
        "POST",
        {"anonymous": 401, "owner": 204, "other": 403, "staff": 403, "admin": 403},
        body=lambda c, r: {"refresh": c.owner.refresh_token()},
    ),
    Row("account-me", "GET", logged_in(200), me=True),
    Row(
        "account-password",
        "POST",
        logged_in(200),
        body=lambda c, r: {"old_password": PASSWORD, "new_password": "a brand new passphrase"},
        me=True,
    ),
    Row("account-detail", "GET", owner_or_staff(200), kwargs=account),
    Row(
        "account-role-grant",
        "POST",
        admin_only(200),
        kwargs=account,
        body=lambda c, r: {"role": "staff"},
    ),
    Row(
        "account-role-revoke",
        "DELETE",
        admin_only(200),
        kwargs=lambda c: {**account(c), "role": "customer"},
    ),
    Row(
        "account-lock",
        "POST",
        staff_only(200),
        kwargs=account,
        body=lambda c, r: {"reason": "test"},
    ),
    Row(
        "account-unlock",
        "POST",
        # A locked owner cannot authenticate at all.
        {**staff_only(200), "owner": 401},
        kwargs=account,
        setup=lambda c: _lock(c.owner),
    ),
    Row(
        "account-erase",
        "POST",
        {"anonymous": 401, "owner": 200, "other": 403, "staff": 403, "admin": 200},
        kwargs=account,
    ),
    Row("profile-me", "GET", logged_in(200), me=True, read_models=("users.profiles",)),
    Row("profile-me", "PATCH", logged_in(200), me=True, body=lambda c, r: {"bio": f"I am {r}"}),
    Row(
        "profile-preferences",
        "PUT",
        logged_in(200),
        me=True,
        body=lambda c, r: {"kinds": ["welcome"], "channels": ["email"]},
    ),
    Row(
        "profile-watch",
        "POST",
        logged_in(200),
        me=True,
        setup=lambda c: setattr(c, "product_id", a_product()),
        body=lambda c, r: {"product_id": c.product_id},
    ),
    Row(
        "profile-unwatch",
        "DELETE",
        logged_in(200),
        me=True,
        setup=watching,
        kwargs=lambda c: {"product_id": c.product_id},
    ),
    Row(
        "profile-card",
        "GET",
        every(200),
        kwargs=lambda c: {"profile_id": c.owner.account_id},
        read_models=("users.cards",),
    ),
    Row("user-directory", "GET", staff_only(200)),
    Row("products", "GET", every(200)),
    Row("products", "POST", staff_only(201), body=new_product),
    Row(
        "product",
        "GET",
        every(200),
        kwargs=product,
        setup=shop_product,
        read_models=("products.details",),
    ),
    Row(
        "product",
        "PATCH",
        staff_only(200),
        kwargs=product,
        setup=shop_product,
        body=lambda c, r: {"name": f"Chair {r}"},
    ),
    Row(
        "product-price",
        "POST",
        staff_only(200),
        kwargs=product,
        setup=shop_product,
        body=lambda c, r: {"price": "9.50", "currency": "EUR"},
    ),
    Row(
        "product-prices",
        "GET",
        every(200),
        kwargs=product,
        setup=shop_product,
        read_models=("products.catalog",),  # the history of a product on sale: anyone's
    ),
    Row(
        "product-stock",
        "POST",
        staff_only(200),
        kwargs=product,
        setup=shop_product,
        body=lambda c, r: {"quantity": 3},
    ),
    Row(
        "product-reserve",
        "POST",
        staff_only(200),
        kwargs=product,
        setup=shop_product,
        body=lambda c, r: {"quantity": 1},
    ),
    Row(
        "product-release",
        "DELETE",
        staff_only(200),
        kwargs=lambda c: {"product_id": c.product_id, "reservation_id": c.reservation_id},
        setup=reserved,
    ),
    Row(
        "product-publish",
        "POST",
        staff_only(200),
        kwargs=product,
        setup=lambda c: shop_product(c, publish=False),
    ),
    Row("product-unpublish", "POST", staff_only(200), kwargs=product, setup=shop_product),
    Row("product-discontinue", "POST", staff_only(200), kwargs=product, setup=shop_product),
    Row("product-leaderboard", "GET", staff_only(200), kwargs=lambda c: {"board": "most-watched"}),
    Row("notifications", "GET", logged_in(200), me=True),
    Row("notifications-unread", "GET", logged_in(200), me=True),
    Row("notifications-read-all", "POST", logged_in(200), me=True),
    Row("orders", "GET", logged_in(200), me=True),
    Row(
        "orders",
        "POST",
        logged_in(201),
        me=True,
        setup=shop_product,
        read_models=("products.catalog",),
        body=lambda c, r: {"lines": [{"product_id": c.product_id, "quantity": 1}]},
    ),
    Row("orders-all", "GET", staff_only(200)),
    Row(
        "order",
        "GET",
        # Someone else's order is not found; staff see every one.
        {"anonymous": 401, "owner": 200, "other": 404, "staff": 200, "admin": 200},
        kwargs=lambda c: {"order_id": c.order_id},
        setup=ordered,
        read_models=("orders.orders", "orders.timeline"),
    ),
    Row(
        "order-cancel",
        "POST",
        {"anonymous": 401, "owner": 200, "other": 404, "staff": 200, "admin": 200},
        kwargs=lambda c: {"order_id": c.order_id},
        setup=ordered,
        body=lambda c, r: {},
    ),
    # Unsigned: refused whoever sends it (the provider signs; see test_payments).
    Row("payment-callback", "POST", every(401), body=lambda c, r: {"outcome": "paid"}),
    Row(
        "notification-read",
        "POST",
        # Someone else's notification is not found, whoever asks.
        {"anonymous": 401, "owner": 200, "other": 404, "staff": 404, "admin": 404},
        kwargs=lambda c: {"notification_id": c.notification_id},
        setup=notified,
    ),
]


def api_endpoints() -> set[tuple[str, str]]:
    """(url name, method) of every API view: under /api/, each HTTP method it implements."""
    found: set[tuple[str, str]] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/"):
                view = getattr(p.callback, "cls", None) or getattr(p.callback, "view_class", None)
                for method in ("get", "post", "put", "patch", "delete"):
                    if view is not None and hasattr(view, method):
                        found.add((p.name or "", method.upper()))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_endpoint_is_in_the_matrix() -> None:
    listed = {(row.name, row.method) for row in MATRIX}
    missing = api_endpoints() - listed
    assert not missing, f"endpoints missing from the authorization matrix: {sorted(missing)}"
    assert not listed - api_endpoints(), "the matrix lists endpoints that do not exist"


def _cell() -> Cell:
    owner = person()
    callers = {
        "owner": owner,
        "other": person(),
        "staff": person("staff"),
        "admin": person("admin"),
    }
    return Cell(owner=owner, callers=callers)


def test_authorization_matrix() -> None:
    mismatches = []
    for row in MATRIX:
        cells = {role: _cell() for role in ROLES}
        for role, cell in cells.items():
            if row.me and role in cells and role != "anonymous":
                cell.owner = cell.callers[role]
            row.setup(cell)
        if row.read_models:
            relay()
            for name in row.read_models:
                catch_up_all_partitions(name)
        for role, cell in cells.items():
            client = anonymous() if role == "anonymous" else cell.callers[role].client()
            url = reverse(row.name, kwargs=row.kwargs(cell))
            response = getattr(client, row.method.lower())(
                url, row.body(cell, role), format="json", **row.headers
            )
            if response.status_code != row.expected[role]:
                mismatches.append(
                    f"{row.method} {row.name} as {role}: {response.status_code}, "
                    f"expected {row.expected[role]} ({getattr(response, 'data', '')!s:.200})"
                )
    assert not mismatches, "\n".join(mismatches)
