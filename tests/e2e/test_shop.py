"""Over HTTP only, against the running web server (2 processes x 4 threads), worker and relay:
concurrent reservations, and a price drop travelling to a watcher's inbox and mailbox."""

from __future__ import annotations

import threading
import uuid
from io import StringIO

import pytest
from django.core.management import call_command

from apps.products.events import StockReserved
from eventstore.runtime import get_store
from tests.support.http import Http, Reply
from tests.support.shop import mails_to

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "correct horse battery staple"


def client_for(api: Http, email: str, *, register: bool = True) -> Http:
    http = Http(api.base)
    if register:
        made = http.post("/api/v1/accounts/", {"email": email, "password": PASSWORD})
        assert made.status == 201, made
    login = http.post("/api/v1/auth/token/", {"email": email, "password": PASSWORD})
    assert login.status == 200, login
    http.bearer = login.body["access"]
    return http


def an_admin(api: Http) -> Http:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    call_command("create_admin", email=email, password=PASSWORD, stdout=StringIO())
    return client_for(api, email, register=False)


def a_staff_member(api: Http, admin: Http) -> Http:
    email = f"staff-{uuid.uuid4().hex[:8]}@example.com"
    staff = client_for(api, email)
    me = staff.get("/api/v1/accounts/me/").body["id"]
    granted = admin.post(f"/api/v1/accounts/{me}/roles/", {"role": "staff"})
    assert granted.status == 200, granted
    return staff


def create_product(staff: Http, stock: int, price: str = "40.00") -> str:
    made = staff.post(
        "/api/v1/products/",
        {
            "sku": f"LAMP-{uuid.uuid4().hex[:8]}",
            "name": "Reading lamp",
            "description": "Warm light",
            "price": price,
            "currency": "EUR",
        },
    )
    assert made.status == 201, made
    product_id = str(made.body["id"])
    assert staff.post(f"/api/v1/products/{product_id}/stock/", {"quantity": stock}).status == 200
    assert staff.post(f"/api/v1/products/{product_id}/publish/").status == 200
    return product_id


def test_eight_concurrent_reservations_for_five_in_stock(live_system: Http) -> None:
    staff = a_staff_member(live_system, an_admin(live_system))
    product_id = create_product(staff, stock=5)
    start = threading.Barrier(8)
    replies: list[Reply] = []
    lock = threading.Lock()

    def reserve() -> None:
        start.wait()
        reply = staff.post(f"/api/v1/products/{product_id}/reservations/", {"quantity": 1})
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    statuses = sorted(r.status for r in replies)
    assert statuses == [200] * 5 + [409] * 3, [(r.status, r.body) for r in replies]
    refused = [r for r in replies if r.status == 409]
    assert all(r.body["error"]["code"] == "insufficient_stock" for r in refused)
    events = get_store().read(product_id)
    assert [e.stream_version for e in events] == list(range(1, len(events) + 1))
    reserved = [e.payload for e in events if isinstance(e.payload, StockReserved)]
    assert len(reserved) == 5 and reserved[-1].stock_after == 0
    assert len({r.reservation_id for r in reserved}) == 5
    page = live_system.get(
        f"/api/v1/products/{product_id}/",
        headers={
            "X-Consistency-Token": max(replies, key=lambda r: r.body.get("version", 0)).body[
                "token"
            ]
        },
    )
    assert page.status == 200 and page.body["stock"] == 0, page


def log_state() -> str:
    """Where the relay and the reactions stand, and the transactions open (for a failure)."""
    from django.db import connection

    queries = {
        "relay": "SELECT frontier, gap_lo, gap_hi FROM es_relay_state",
        "outbox": "SELECT max(id) FROM es_outbox",
        "reactions": "SELECT reaction, next_position, decide_from FROM proj_reaction",
        "open": "SELECT pid, backend_xid::text, state, now() - xact_start, left(query, 60) "
        "FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname = current_database()",
    }
    with connection.cursor() as cur:
        found = {}
        for name, sql in queries.items():
            cur.execute(sql)
            found[name] = cur.fetchall()
    return "; ".join(f"{name}: {rows}" for name, rows in found.items())


def test_a_price_drop_reaches_the_watchers_inbox_counter_and_mailbox_once(
    live_system: Http,
) -> None:
    api = live_system
    email = f"watcher-{uuid.uuid4().hex[:8]}@example.com"
    user = client_for(api, email)
    staff = a_staff_member(api, an_admin(api))
    product_id = create_product(staff, stock=20)

    watched = user.until(
        "the profile to exist (made by a reaction)",
        lambda: user.post("/api/v1/profiles/me/watchlist/", {"product_id": product_id}),
        lambda r: not (r.status == 409 and r.body["error"]["code"] == "profile_pending"),
    )
    assert watched.status == 200, watched
    # The inbox waits until notifications know about the watch.
    seen = user.get(
        "/api/v1/notifications/", headers={"X-Consistency-Token": watched.body["token"]}
    )
    assert seen.status == 200 and seen.header("X-Consistency") == "fresh", seen

    lowered = staff.post(
        f"/api/v1/products/{product_id}/price/", {"price": "29.99", "currency": "EUR"}
    )
    assert lowered.status == 200, lowered
    token = {"X-Consistency-Token": lowered.body["token"]}
    # Fresh: the price change has been reacted to; the notification reaches the inbox next.
    try:
        inbox = user.until(
            "the price drop in the inbox",
            lambda: user.get("/api/v1/notifications/", headers=token),
            lambda r: r.status == 200 and len(r.body["results"]) == 1,
            timeout=30,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_state()}") from None
    note = inbox.body["results"][0]
    assert note["kind"] == "price_drop" and "29.99 EUR" in note["body"] and not note["read"]
    # The counter is another read model, applying the same notification event independently.
    user.until(
        "the unread counter in Redis to count it",
        lambda: user.get("/api/v1/notifications/unread-count/", headers=token),
        lambda r: r.body == {"unread": 1},
        timeout=30,
    )

    user.until(
        "the email to be delivered",
        lambda: user.get("/api/v1/notifications/"),
        lambda r: r.body["results"][0]["status"] == "delivered",
        timeout=60,
    )
    assert len([m for m in mails_to(email) if "Price drop" in m]) == 1
    assert len([m for m in mails_to(email) if "Welcome" in m]) == 1

    call_command("replay_projections", "notifications.inbox")
    again = user.get("/api/v1/notifications/")
    assert [n["id"] for n in again.body["results"]] == [note["id"]]
    assert len([m for m in mails_to(email) if "Price drop" in m]) == 1
