"""The fulfilment process, run by the engine as workers would (in this process): an order from
placed to fulfilled, or compensated (stock short, payment declined, payment timed out,
cancelled), each reply taken once, a forged or late one refused and changing nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from apps.orders import payments, timers
from apps.orders.models import OrderTimer
from apps.products.models import CatalogEntry
from eventstore.runtime import get_store
from tests.integration.apps.test_bad_input import assert_refused
from tests.support.accounts import Person, anonymous, person
from tests.support.shop import a_product, run_engine, run_side_effect_jobs

pytestmark = pytest.mark.django_db(transaction=True)


class Provider:
    """A payment provider that takes requests and answers when the test says."""

    def __init__(self) -> None:
        self.requests: list[payments.PaymentRequest] = []

    def request(self, payment: payments.PaymentRequest) -> None:
        self.requests.append(payment)


@pytest.fixture
def provider() -> Iterator[Provider]:
    taken = Provider()
    previous = payments.install(taken)
    try:
        yield taken
    finally:
        payments.install(previous)


def callback(payment: payments.PaymentRequest, outcome: str, *, signature: str = "") -> Any:
    body = payments.callback_body(payment, outcome)
    return anonymous().post(
        "/api/v1/payments/callback/",
        body,
        content_type="application/json",
        HTTP_X_SIGNATURE=signature or payments.sign(body),
    )


def stock(product_id: str) -> int:
    run_engine("products.catalog")
    return CatalogEntry.objects.get(product_id=product_id).stock


def order(who: Person, order_id: str) -> dict[str, Any]:
    run_engine()
    return dict(who.client().get(f"/api/v1/orders/{order_id}/").json())


def place(who: Person, *lines: tuple[str, int]) -> str:
    run_engine("products.catalog")
    body = {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}
    placed = who.client().post("/api/v1/orders/", body, format="json")
    assert placed.status_code == 201, placed.content
    return str(placed.json()["id"])


def pay_requested(provider: Provider) -> payments.PaymentRequest:
    run_engine()
    run_side_effect_jobs("orders.payments")
    [requested] = provider.requests
    return requested


@override_settings(ORDERS_FULFILMENT_SECONDS=0.0)
def test_an_order_goes_from_placed_to_fulfilled(provider: Provider) -> None:
    lamp, mug = a_product(stock=5, price="12.50"), a_product(stock=5, price="8.00")
    ada = person()
    order_id = place(ada, (lamp, 2), (mug, 1))
    requested = pay_requested(provider)
    assert (requested.order_id, requested.totals) == (order_id, (("EUR", 3300),))
    assert order(ada, order_id)["state"] == "payment_pending"
    assert (stock(lamp), stock(mug)) == (3, 4)
    assert callback(requested, "paid").status_code == 200
    run_engine()
    run_side_effect_jobs("orders.kitchen")
    page = order(ada, order_id)
    assert page["state"] == "fulfilled"
    assert [s["step"] for s in page["timeline"]] == [
        "OrderPlaced",
        "OrderStockReserved",
        "PaymentRequested",
        "OrderPaid",
        "FulfilmentStarted",
        "OrderFulfilled",
    ]
    assert (stock(lamp), stock(mug)) == (3, 4)  # consumed by the order, not released
    assert not OrderTimer.objects.filter(order_id=order_id, status="pending").exists()
    assert len(provider.requests) == 1
    told = ada.client().get("/api/v1/notifications/", {"kind": "order"}).json()["results"]
    assert sorted(n["subject"] for n in told) == [
        f"Order {order_id[:8]} confirmed",
        f"Order {order_id[:8]} is on its way",
    ]


def paid_and_cooked(provider: Provider, rounds: int) -> tuple[Person, str]:
    """A customer's order of one lamp, paid, then `rounds` of the engine and the kitchen."""
    ada = person()
    order_id = place(ada, (a_product(stock=5), 1))
    assert callback(pay_requested(provider), "paid").status_code == 200
    for _ in range(rounds):
        run_engine()
        run_side_effect_jobs("orders.kitchen")
    return ada, order_id


@override_settings(ORDERS_FULFILMENT_SECONDS=0.0, ORDERS_KITCHEN_FAILURES=2)
def test_a_failed_fulfilment_attempt_is_recorded_and_tried_again(provider: Provider) -> None:
    ada, order_id = paid_and_cooked(provider, rounds=4)
    page = order(ada, order_id)
    assert page["state"] == "fulfilled"
    steps = [(s["step"], s["detail"]) for s in page["timeline"]][-4:]
    assert [step for step, _ in steps] == [
        "FulfilmentStarted",
        "FulfilmentAttemptFailed",
        "FulfilmentAttemptFailed",
        "OrderFulfilled",
    ]
    assert steps[1][1].startswith("attempt 1:") and steps[2][1].startswith("attempt 2:")


@override_settings(ORDERS_FULFILMENT_SECONDS=0.0, ORDERS_KITCHEN_FAILURES=9)
def test_a_kitchen_that_keeps_failing_leaves_the_order_to_an_operator(provider: Provider) -> None:
    ada, order_id = paid_and_cooked(provider, rounds=8)
    page = order(ada, order_id)
    assert page["state"] == "fulfilling"
    failures = [s for s in page["timeline"] if s["step"] == "FulfilmentAttemptFailed"]
    assert len(failures) == 5  # ORDERS_KITCHEN_MAX_ATTEMPTS


def test_a_line_short_of_stock_rejects_the_order_and_releases_the_others(
    provider: Provider,
) -> None:
    plenty, scarce = a_product(stock=5), a_product(stock=1)
    ada = person()
    order_id = place(ada, (plenty, 2), (scarce, 2))
    page = order(ada, order_id)
    assert page["state"] == "rejected"
    assert scarce in page["reason"] and "stock" in page["reason"]
    assert (stock(plenty), stock(scarce)) == (5, 1)
    assert provider.requests == []


def test_a_declined_payment_releases_the_stock_and_a_late_approval_changes_nothing(
    provider: Provider,
) -> None:
    lamp = a_product(stock=5)
    ada = person()
    order_id = place(ada, (lamp, 3))
    requested = pay_requested(provider)
    assert callback(requested, "declined").status_code == 200
    page = order(ada, order_id)
    assert (page["state"], page["reason"]) == (
        "payment_failed",
        "declined by the simulated provider",
    )
    assert stock(lamp) == 5
    late = assert_refused(callback(requested, "paid"), 409)
    assert late["code"] == "order_closed"
    assert order(ada, order_id)["state"] == "payment_failed"


def test_a_payment_not_confirmed_in_time_fails_by_its_timer(provider: Provider) -> None:
    lamp = a_product(stock=5)
    ada = person()
    order_id = place(ada, (lamp, 2))
    requested = pay_requested(provider)
    assert timers.fire_due() == 0  # not due yet
    later = timezone.now() + timedelta(hours=1)
    assert timers.fire_due(later) == 1  # the payment's timeout; the reservation's comes after
    page = order(ada, order_id)
    assert (page["state"], page["reason"]) == (
        "payment_failed",
        "the payment was not confirmed in time",
    )
    assert stock(lamp) == 5
    assert timers.fire_due(later + timedelta(days=1)) == 0  # cancelled with the failure
    assert assert_refused(callback(requested, "paid"), 409)["code"] == "order_closed"
    assert order(ada, order_id)["state"] == "payment_failed"


def test_a_customer_cancels_before_payment_and_the_stock_comes_back(provider: Provider) -> None:
    lamp = a_product(stock=5)
    ada = person()
    order_id = place(ada, (lamp, 4))
    requested = pay_requested(provider)
    assert stock(lamp) == 1
    assert (
        ada.client().post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json").status_code
        == 200
    )
    page = order(ada, order_id)
    assert page["state"] == "cancelled"
    assert stock(lamp) == 5
    assert not OrderTimer.objects.filter(order_id=order_id, status="pending").exists()
    assert assert_refused(callback(requested, "paid"), 409)["code"] == "order_closed"


def test_duplicate_forged_unknown_and_malformed_callbacks_change_nothing(
    provider: Provider,
) -> None:
    lamp = a_product(stock=5)
    ada = person()
    order_id = place(ada, (lamp, 1))
    requested = pay_requested(provider)
    forged = assert_refused(callback(requested, "paid", signature="sha256=" + "0" * 64), 401)
    assert forged["code"] == "invalid_signature"
    stranger = payments.PaymentRequest("not-a-payment", order_id, requested.totals)
    assert assert_refused(callback(stranger, "paid"), 404)["code"] == "unknown_payment"
    body = json.dumps({"payment_id": requested.payment_id}).encode()
    malformed = anonymous().post(
        "/api/v1/payments/callback/",
        body,
        content_type="application/json",
        HTTP_X_SIGNATURE=payments.sign(body),
    )
    assert_refused(malformed, 400)
    assert order(ada, order_id)["state"] == "payment_pending"
    assert callback(requested, "paid").status_code == 200
    again = assert_refused(callback(requested, "paid"), 409)
    assert again["code"] == "already_recorded"
    run_engine()
    assert [s["step"] for s in order(ada, order_id)["timeline"]].count("OrderPaid") == 1


@override_settings(ORDERS_FULFILMENT_SECONDS=0.0, ORDERS_KITCHEN_FAILURES=9)
def test_an_operator_sees_stuck_orders_retries_the_kitchen_and_force_fails(
    provider: Provider,
) -> None:
    lamp = a_product(stock=9)
    ada, operator = person(), person("staff", "admin")
    cooking = place(ada, (lamp, 1))
    assert callback(pay_requested(provider), "paid").status_code == 200
    unpaid = place(ada, (lamp, 2))
    run_engine()
    run_side_effect_jobs("orders.payments")
    for _ in range(7):  # the kitchen gives up after ORDERS_KITCHEN_MAX_ATTEMPTS
        run_engine()
        run_side_effect_jobs("orders.kitchen")
    out = StringIO()
    call_command("orders", "stuck", "--minutes", "0", stdout=out)
    assert cooking in out.getvalue() and unpaid in out.getvalue()
    assert "payment_timeout at" in out.getvalue()  # the unpaid one's pending timer
    metrics = Client().get("/metrics").content.decode()
    assert 'orders{state="fulfilling"}' in metrics and "orders_timers_pending" in metrics

    admin = operator.client()
    admin.force_login(operator.user)
    listing = admin.get("/admin/orders/orderview/", {"stuck": "5"})
    assert listing.status_code == 200
    page = admin.get(f"/admin/orders/orderview/{unpaid}/change/").content.decode()
    assert "payment_timeout" in page and "PaymentRequested" in page
    with override_settings(ORDERS_KITCHEN_FAILURES=0):
        admin.post(
            "/admin/orders/orderview/",
            {"action": "retry_fulfilment", "_selected_action": [cooking]},
        )
        admin.post(
            "/admin/orders/orderview/", {"action": "force_fail", "_selected_action": [unpaid]}
        )
        for _ in range(2):
            run_engine()
            run_side_effect_jobs("orders.kitchen")
    assert order(ada, cooking)["state"] == "fulfilled"
    failed = order(ada, unpaid)
    assert (failed["state"], failed["reason"]) == ("payment_failed", "failed by an operator")
    assert stock(lamp) == 8  # the fulfilled one's unit; the failed order's two came back
    actors = {e.actor for e in get_store().read(unpaid)} | {
        e.actor for e in get_store().read(cooking)
    }
    assert operator.account_id in actors  # each action is an event, with the operator as actor
