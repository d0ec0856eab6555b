"""The products API: the catalog query, the cached product page with its view counter, price
history, leaderboards; and bad input that must get a 4xx with a reason."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from apps.products import commands as products
from apps.shared.bus import dispatch
from apps.users import commands as users
from tests.integration.apps.test_bad_input import assert_refused
from tests.support.accounts import anonymous, person
from tests.support.shop import run_engine

pytestmark = pytest.mark.django_db(transaction=True)


def make(
    name: str,
    price: str,
    stock: int,
    *,
    publish: bool = True,
    text: str = "",
    currency: str = "EUR",
) -> str:
    pid = dispatch(
        products.CreateProduct(
            sku=f"SKU-{uuid.uuid4().hex[:10]}",
            name=name,
            description=text,
            price=Decimal(price),
            currency=currency,
        )
    ).stream_id
    if stock:
        dispatch(products.ReceiveStock(product_id=pid, quantity=stock))
    if publish:
        dispatch(products.SetAvailability(product_id=pid, action="publish"))
    return pid


def test_catalog_filters_searches_orders_and_pages() -> None:
    tag = uuid.uuid4().hex[:6]
    make(f"Lamp {tag}", "30.00", 4, text="warm light")
    make(f"Desk {tag}", "120.00", 0)
    make(f"Chair {tag}", "45.50", 2, text="oak, warm colour")
    make(f"Hidden {tag}", "10.00", 5, publish=False)
    run_engine("products.catalog")
    client = anonymous()

    def names(**query: str) -> list[str]:
        response = client.get(reverse("products"), {"search": tag, **query})
        assert response.status_code == 200, response.json()
        return [p["name"].split()[0] for p in response.json()["results"]]

    assert names(ordering="price") == ["Lamp", "Chair", "Desk"]
    assert names(ordering="-price") == ["Desk", "Chair", "Lamp"]
    assert names(ordering="name", min_price="40", max_price="100") == ["Chair"]
    assert names(ordering="name", in_stock="true") == ["Chair", "Lamp"]
    assert names(ordering="name", in_stock="false") == ["Desk"]
    assert names(search=f"{tag} warm", ordering="name") == ["Chair", "Lamp"]
    page = client.get(reverse("products"), {"search": tag, "ordering": "price", "page_size": "2"})
    first = page.json()
    assert [p["name"].split()[0] for p in first["results"]] == ["Lamp", "Chair"]
    assert first["results"][0]["price"] == "30.00"
    second = client.get(first["next"]).json()
    assert [p["name"].split()[0] for p in second["results"]] == ["Desk"]


def test_product_page_comes_from_redis_and_counts_views() -> None:
    pid = make("Lamp", "30.00", 4)
    hidden = make("Secret", "30.00", 4, publish=False)
    run_engine("products.details")
    client = anonymous()
    first = client.get(reverse("product", kwargs={"product_id": pid})).json()
    second = client.get(reverse("product", kwargs={"product_id": pid})).json()
    assert first["name"] == "Lamp" and first["price"] == "30.00" and first["stock"] == 4
    assert second["views"] == first["views"] + 1
    assert client.get(reverse("product", kwargs={"product_id": hidden})).status_code == 404
    staff = person("staff").client()
    assert staff.get(reverse("product", kwargs={"product_id": hidden})).status_code == 200
    board = staff.get(reverse("product-leaderboard", kwargs={"board": "most-viewed"})).json()
    assert {"id": pid, "score": second["views"]} in board["entries"]


def test_price_history_and_leaderboards() -> None:
    pid = make("Lamp", "30.00", 10)
    dispatch(products.ChangePrice(product_id=pid, price=Decimal("25.00"), currency="EUR"))
    fan = person()
    dispatch(users.WatchProduct(profile_id=fan.account_id, product_id=pid))
    dispatch(products.ReserveStock(product_id=pid, reservation_id=str(uuid.uuid4()), quantity=8))
    run_engine("products.catalog", "products.price_history", "products.leaderboards")
    history = anonymous().get(reverse("product-prices", kwargs={"product_id": pid})).json()
    assert [(h["old_price"], h["new_price"]) for h in history["results"]] == [
        ("30.00", "25.00"),
        (None, "30.00"),
    ]
    staff = person("staff").client()

    def board(name: str) -> Any:
        return staff.get(reverse("product-leaderboard", kwargs={"board": name})).json()["entries"]

    assert {"id": pid, "score": 1} in board("most-watched")
    assert {"id": pid, "score": 2} in board("lowest-stock")
    assert pid in board("low-stock")
    assert staff.get(reverse("product-leaderboard", kwargs={"board": "nope"})).status_code == 404


def test_an_unpublished_products_price_history_is_hidden_like_its_page() -> None:
    hidden = make("Prototype", "99.00", 1, publish=False)
    dispatch(products.ChangePrice(product_id=hidden, price=Decimal("80.00"), currency="EUR"))
    run_engine("products.catalog", "products.price_history", "products.details")
    for client in (anonymous(), person().client()):
        assert_refused(client.get(reverse("product", args=[hidden])), 404)
        assert_refused(client.get(reverse("product-prices", args=[hidden])), 404)
    staff = person("staff").client()
    history = staff.get(reverse("product-prices", args=[hidden])).json()["results"]
    assert [h["new_price"] for h in history] == ["80.00", "99.00"]


def test_money_is_written_in_the_currencys_minor_units_everywhere() -> None:
    yen = make("Teapot", "1000", 3, currency="JPY")
    euro = make("Cup", "12.5", 3)
    dispatch(products.ChangePrice(product_id=yen, price=Decimal("1200"), currency="JPY"))
    run_engine("products.catalog", "products.price_history", "products.details")
    client = anonymous()
    catalog = {e["id"]: e["price"] for e in client.get(reverse("products")).json()["results"]}
    assert (catalog[yen], catalog[euro]) == ("1200", "12.50")
    assert client.get(reverse("product", args=[euro])).json()["price"] == "12.50"
    assert client.get(reverse("product", args=[yen])).json()["price"] == "1200"
    history = client.get(reverse("product-prices", args=[yen])).json()["results"]
    assert [(h["old_price"], h["new_price"]) for h in history] == [("1000", "1200"), (None, "1000")]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"price": "12.345", "currency": "EUR"}, 422),
        ({"price": "twelve", "currency": "EUR"}, 400),
        ({"price": "1e400", "currency": "EUR"}, 400),
        ({"price": "NaN", "currency": "EUR"}, 400),
        ({"price": "-5.00", "currency": "EUR"}, 422),
        ({"price": "0", "currency": "EUR"}, 422),
        ({"price": "5.00", "currency": "XXX"}, 400),
        ({"price": "5.00"}, 400),
        ({"price": ["5"], "currency": "EUR"}, 400),
        ({"price": "5.00", "currency": "USD"}, 422),
    ],
)
def test_change_price_refuses_malformed_money(body: dict[str, Any], status: int) -> None:
    pid = make("Lamp", "30.00", 1)
    staff = person("staff").client()
    url = reverse("product-price", kwargs={"product_id": pid})
    assert_refused(staff.post(url, body, format="json"), status)


def test_stock_and_reservations_refuse_bad_quantities_and_double_releases() -> None:
    pid = make("Lamp", "30.00", 2)
    staff = person("staff").client()
    stock = reverse("product-stock", kwargs={"product_id": pid})
    reserve = reverse("product-reserve", kwargs={"product_id": pid})
    for quantity in (-1, 0, "many", 10**12, 1.5, None):
        assert_refused(staff.post(stock, {"quantity": quantity}, format="json"), 400)
        assert_refused(staff.post(reserve, {"quantity": quantity}, format="json"), 400)
    assert_refused(staff.post(reserve, {"quantity": 3}, format="json"), 409)
    made = staff.post(reserve, {"quantity": 1}, format="json").json()
    release = reverse(
        "product-release", kwargs={"product_id": pid, "reservation_id": made["reservation_id"]}
    )
    assert staff.delete(release).status_code == 200
    assert_refused(staff.delete(release), 409)
    unknown = reverse(
        "product-release", kwargs={"product_id": pid, "reservation_id": str(uuid.uuid4())}
    )
    assert_refused(staff.delete(unknown), 404)
    missing = reverse("product-stock", kwargs={"product_id": str(uuid.uuid4())})
    assert_refused(staff.post(missing, {"quantity": 1}, format="json"), 404)


def test_create_refuses_duplicate_skus_in_any_case_and_bad_fields() -> None:
    staff = person("staff").client()
    url = reverse("products")
    sku = f"sku-{uuid.uuid4().hex[:8]}"
    body = {"sku": sku, "name": "Lamp", "price": "10.00", "currency": "EUR"}
    assert staff.post(url, body, format="json").status_code == 201
    assert_refused(staff.post(url, {**body, "sku": sku.upper()}, format="json"), 409)
    fresh = {**body, "sku": uuid.uuid4().hex}
    for bad in (
        {**body, "sku": "x" * 1000},
        {**fresh, "name": ""},
        {**fresh, "name": "a\x00b"},
        {**fresh, "stock": 100},
        {**fresh, "published": True},
        {**fresh, "name": 12},
    ):
        assert_refused(staff.post(url, bad, format="json"), 400)


def test_discontinued_products_refuse_changes_but_keep_history() -> None:
    pid = make("Lamp", "30.00", 2)
    staff = person("staff").client()
    assert staff.post(reverse("product-discontinue", kwargs={"product_id": pid})).status_code == 200
    error = assert_refused(
        staff.post(
            reverse("product-stock", kwargs={"product_id": pid}), {"quantity": 1}, format="json"
        ),
        409,
    )
    assert error["code"] == "discontinued"
    run_engine("products.catalog", "products.price_history")
    assert staff.get(reverse("product-prices", kwargs={"product_id": pid})).json()["results"]
    # Off sale: its history is hidden from customers, like its page.
    assert_refused(anonymous().get(reverse("product-prices", kwargs={"product_id": pid})), 404)


@pytest.mark.parametrize(
    "query",
    [
        {"page_size": "1000000"},
        {"page_size": "0"},
        {"cursor": "%%%"},
        {"cursor": "cD0xMjM0NTY3ODkw"},
        {"min_price": "cheap"},
        {"currency": "XXX"},
        {"in_stock": "perhaps"},
    ],
)
def test_catalog_refuses_bad_queries(query: dict[str, str]) -> None:
    assert_refused(anonymous().get(reverse("products"), query), 400)


def test_admin_actions_change_price_and_receive_stock_through_commands() -> None:
    from apps.products.aggregates import Product
    from apps.shared.bus import current

    pid = make("Lamp", "30.00", 2)
    run_engine("products.catalog")
    admin = person("staff", "admin")
    client = admin.client()
    client.force_login(admin.user)
    url = "/admin/products/catalogentry/"
    client.post(url, {"action": "change_price", "value": "25.50", "_selected_action": [pid]})
    client.post(url, {"action": "receive_stock", "value": "3", "_selected_action": [pid]})
    refused = client.post(
        url, {"action": "receive_stock", "value": "-3", "_selected_action": [pid]}, follow=True
    )
    assert "whole number" in refused.content.decode()
    product = current().load(Product, pid)
    assert product.price == Decimal("25.50") and product.stock == 5
    detail = client.get(f"{url}{pid}/change/")
    assert detail.status_code == 200 and "products.PriceChanged" in detail.content.decode()
