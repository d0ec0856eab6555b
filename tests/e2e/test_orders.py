"""Orders over HTTP only, against the running system (web, worker with the simulated payment
provider and the kitchen, follower, relay): an order placed, paid through the provider's signed
callback on the web server's webhook and fulfilled; and 100 orders racing for the last 10
units."""

from __future__ import annotations

import threading
import uuid

import pytest

from apps.products.events import StockReserved
from eventstore.runtime import get_store
from tests.e2e.test_shop import a_staff_member, an_admin, client_for, create_product
from tests.support.http import Http, Reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TERMINAL = ("fulfilled", "cancelled", "rejected", "payment_failed")


@pytest.fixture
def fast_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick kitchen and provider, for the worker processes the live system starts."""
    monkeypatch.setenv("ORDERS_FULFILMENT_SECONDS", "0.1")
    monkeypatch.setenv("PAYMENTS_SIMULATED_DELAY", "0.1")


def a_customer(api: Http) -> Http:
    return client_for(api, f"customer-{uuid.uuid4().hex[:8]}@example.com")


def on_sale(api: Http, product_id: str) -> None:
    """Wait for the catalog (what an order is priced from) to have the product."""
    api.until(
        "the product in the catalog",
        lambda: api.get("/api/v1/products/?page_size=100"),
        lambda r: product_id in [p["id"] for p in r.body["results"]],
    )


def place(customer: Http, product_id: str, quantity: int) -> Reply:
    body = {"lines": [{"product_id": product_id, "quantity": quantity}]}
    return customer.post("/api/v1/orders/", body)


def test_an_order_is_paid_through_the_provider_and_fulfilled(
    fast_orders: None, live_system: Http
) -> None:
    staff = a_staff_member(live_system, an_admin(live_system))
    product_id = create_product(staff, stock=5)
    customer = a_customer(live_system)
    on_sale(live_system, product_id)
    placed = place(customer, product_id, 2)
    assert placed.status == 201, placed
    order_id = placed.body["id"]
    done = customer.until(
        "the order fulfilled",
        lambda: customer.get(f"/api/v1/orders/{order_id}/"),
        lambda r: r.status == 200 and r.body["state"] in TERMINAL,
    )
    assert done.body["state"] == "fulfilled", done.body
    steps = [s["step"] for s in done.body["timeline"]]
    assert steps[:4] == ["OrderPlaced", "OrderStockReserved", "PaymentRequested", "OrderPaid"]
    told = customer.until(
        "the customer told",
        lambda: customer.get("/api/v1/notifications/?kind=order"),
        lambda r: len(r.body["results"]) == 2,
    )
    assert {n["subject"] for n in told.body["results"]} == {
        f"Order {order_id[:8]} confirmed",
        f"Order {order_id[:8]} is on its way",
    }
    stock = staff.until(
        "the stock taken",
        lambda: staff.get(f"/api/v1/products/{product_id}/"),
        lambda r: r.body["stock"] == 3,
    )
    assert stock.body["stock"] == 3


def test_a_hundred_orders_race_for_the_last_ten_units(fast_orders: None, live_system: Http) -> None:
    staff = a_staff_member(live_system, an_admin(live_system))
    product_id = create_product(staff, stock=10)
    customers = [a_customer(live_system) for _ in range(10)]
    on_sale(live_system, product_id)
    start = threading.Barrier(100)
    placed: list[str] = []
    lock = threading.Lock()

    def order(customer: Http) -> None:
        start.wait()
        reply = place(customer, product_id, 1)
        assert reply.status == 201, reply
        with lock:
            placed.append(reply.body["id"])

    threads = [threading.Thread(target=order, args=(customers[i % 10],)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(placed) == 100

    def states() -> dict[str, int]:
        counts: dict[str, int] = {}
        for customer in customers:
            page = customer.get("/api/v1/orders/?page_size=100").body["results"]
            for o in page:
                counts[o["state"]] = counts.get(o["state"], 0) + 1
        return counts

    deadline_reply = live_system.until(
        "every order ended",
        lambda: Reply(200, {}, states()),
        lambda r: sum(r.body.get(s, 0) for s in TERMINAL) == 100,
        timeout=180,
    )
    assert deadline_reply.body == {"fulfilled": 10, "rejected": 90}
    reserved = [
        e.payload for e in get_store().read(product_id) if e.event_type == StockReserved.event_type
    ]
    assert len(reserved) == 10
    assert all(r.stock_after >= 0 for r in reserved)  # never below zero
    product = staff.get(f"/api/v1/products/{product_id}/")
    assert product.body["stock"] == 0
