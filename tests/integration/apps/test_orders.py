"""The orders API: placing an order priced from the catalog, my orders, an order's page with its
timeline, cancelling before payment; staff's view by state and age; and bad input, refused with
a reason."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.apps.test_bad_input import assert_refused
from tests.support.accounts import anonymous, person
from tests.support.shop import a_product, run_engine

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = ("orders.orders", "orders.timeline")


def place(client: Any, *lines: tuple[str, int], key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}
    return client.post("/api/v1/orders/", body, format="json", **headers)


def test_an_order_is_priced_from_the_catalog_and_shown_with_its_timeline() -> None:
    lamp, mug = a_product(price="12.50"), a_product(price="8.00")
    run_engine("products.catalog")
    ada = person()
    placed = place(ada.client(), (lamp, 2), (mug, 1), key="order-1")
    assert placed.status_code == 201, placed.content
    order_id = placed.json()["id"]
    again = place(ada.client(), (lamp, 2), (mug, 1), key="order-1")
    assert (again.status_code, again.json()["id"]) == (201, order_id)  # placed once
    assert again["Idempotent-Replayed"] == "true"
    run_engine(*ORDERS)

    page = ada.client().get(f"/api/v1/orders/{order_id}/")
    assert page.status_code == 200, page.content
    body = page.json()
    assert body["state"] == "placed"
    assert body["totals"] == {"EUR": "33.00"}
    assert {
        (line["product_id"], line["quantity"], line["unit_price"]) for line in body["lines"]
    } == {
        (lamp, 2, "12.50"),
        (mug, 1, "8.00"),
    }
    assert [step["step"] for step in body["timeline"]] == ["OrderPlaced"]
    assert [o["id"] for o in ada.client().get("/api/v1/orders/").json()["results"]] == [order_id]


def test_a_customer_cancels_their_order_and_no_one_else_can() -> None:
    lamp = a_product()
    run_engine("products.catalog")
    ada, bob = person(), person()
    order_id = place(ada.client(), (lamp, 1)).json()["id"]
    run_engine(*ORDERS)
    assert_refused(bob.client().get(f"/api/v1/orders/{order_id}/"), 404)
    assert_refused(bob.client().post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json"), 404)
    cancelled = ada.client().post(
        f"/api/v1/orders/{order_id}/cancel/", {"reason": "oops"}, format="json"
    )
    assert cancelled.status_code == 200, cancelled.content
    run_engine(*ORDERS)
    body = ada.client().get(f"/api/v1/orders/{order_id}/").json()
    assert (body["state"], body["reason"]) == ("cancelled", "oops")
    assert [step["step"] for step in body["timeline"]] == ["OrderPlaced", "OrderCancelled"]


def test_staff_see_every_order_by_state_and_idle_time() -> None:
    lamp = a_product()
    run_engine("products.catalog")
    ada, staff = person(), person("staff")
    first = place(ada.client(), (lamp, 1)).json()["id"]
    second = place(ada.client(), (lamp, 2)).json()["id"]
    staff.client().post(f"/api/v1/orders/{second}/cancel/", {}, format="json")
    run_engine(*ORDERS)
    assert_refused(ada.client().get("/api/v1/orders/all/"), 403)
    placed = staff.client().get("/api/v1/orders/all/", {"state": "placed"}).json()["results"]
    assert first in [o["id"] for o in placed] and second not in [o["id"] for o in placed]
    idle = staff.client().get("/api/v1/orders/all/", {"idle_minutes": 60}).json()["results"]
    assert first not in [o["id"] for o in idle]  # it moved a moment ago
    cancelled = staff.client().get(f"/api/v1/orders/{second}/").json()
    assert (cancelled["state"], cancelled["reason"]) == ("cancelled", "cancelled by staff")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"lines": []},
        {"lines": "lamp"},
        {"lines": [{"product_id": "not-a-uuid", "quantity": 1}]},
        {"lines": [{"product_id": str(uuid.uuid4()), "quantity": 0}]},
        {"lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},  # no such product
        {"lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}], "total": 1},
    ],
)
def test_an_order_that_cannot_be_placed_is_refused_with_a_reason(body: dict[str, Any]) -> None:
    refused = assert_refused(person().client().post("/api/v1/orders/", body, format="json"))
    assert refused["status"] in (400, 422)


def test_an_unpublished_product_or_the_same_product_twice_is_refused() -> None:
    hidden, lamp = a_product(publish=False), a_product()
    run_engine("products.catalog")
    client = person().client()
    assert assert_refused(place(client, (hidden, 1)), 422)["code"] == "unknown_product"
    assert assert_refused(place(client, (lamp, 1), (lamp, 2)), 422)["code"] == "invalid_command"


@pytest.mark.parametrize(
    "query",
    [{"state": "lost"}, {"idle_minutes": "-1"}, {"idle_minutes": "1e12"}, {"idle_minutes": "x"}],
)
def test_staff_filters_refuse_bad_values(query: dict[str, str]) -> None:
    assert_refused(person("staff").client().get("/api/v1/orders/all/", query), 400)


def test_orders_need_an_account() -> None:
    assert_refused(anonymous().get("/api/v1/orders/"), 401)
    assert_refused(anonymous().post("/api/v1/orders/", {"lines": []}, format="json"), 401)
