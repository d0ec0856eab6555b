"""The operator's console (config/console.py) as its users reach it: staff in, customers 403,
strangers to the login; the stream browser finds a stream, an event or a correlation, shows the
events with their metadata and the aggregate's state as of any version or time, and answers bad
input with a 400 and a reason."""

from __future__ import annotations

import dataclasses
import html
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apps.products import commands as products
from apps.shared.bus import Context, dispatch
from config.console import _trace_url
from eventstore.events import EventEnvelope
from eventstore.models import StoredEvent
from projections import console
from tests.support.accounts import person
from tests.support.shop import a_product, run_engine

pytestmark = [pytest.mark.django_db(transaction=True)]


def state_of(body: str) -> str:
    return html.unescape(body.split('id="state"')[1].split("</pre>")[0])


def signed_in(*roles: str) -> Client:
    client = Client()
    client.force_login(person(*roles).user)
    return client


def test_staff_see_the_console_customers_get_403_and_strangers_the_login() -> None:
    staff, customer = signed_in("staff"), signed_in()
    pages = ["/admin/console/", "/admin/console/streams/", "/admin/console/consumers/x/"]
    for url in pages:
        assert customer.get(url).status_code == 403, url
        stranger = Client().get(url)
        assert stranger.status_code == 302 and "/admin/login/" in stranger["Location"], url
    assert staff.get("/admin/console/").status_code == 200
    assert staff.get("/admin/console/streams/").status_code == 200
    missing = staff.get("/admin/console/consumers/no.such.thing/")
    assert missing.status_code == 404 and b"no.such.thing" in missing.content


def test_every_consumer_has_a_row_with_its_state_and_a_chart_after_two_samples() -> None:
    staff = signed_in("staff")
    a_product()
    run_engine("products.catalog")
    console.record()
    time.sleep(1.1)
    console.record()
    page = staff.get("/admin/console/").content.decode()
    for name in ("products.catalog", "notifications.inbox", "orders.orders"):
        assert f'data-consumer="{name}"' in page, name
    assert 'data-consumer="products.catalog" data-state="following" data-lag="0"' in page
    assert "<svg" in page and "<polyline" in page
    detail = staff.get("/admin/console/consumers/products.catalog/").content.decode()
    assert 'id="partitions"' in detail and "Rebuild products.catalog" in detail


def test_a_customer_cannot_rebuild_and_staff_without_the_right_get_403() -> None:
    staff = signed_in("staff")
    customer = signed_in()
    url = "/admin/console/consumers/products.catalog/"
    assert customer.post(url, {"rebuild": "products.catalog"}).status_code == 403
    assert staff.post(url, {"rebuild": "products.catalog"}).status_code == 403


def _stream_with_three_prices() -> tuple[str, list[StoredEvent]]:
    correlation = uuid.uuid4()
    made = dispatch(
        products.CreateProduct(
            sku=f"C-{uuid.uuid4().hex[:8]}",
            name="Desk",
            description="",
            price=Decimal("10.00"),
            currency="EUR",
        ),
        Context(actor="op-1", correlation_id=correlation),
    )
    for price in ("11.00", "12.00"):
        dispatch(
            products.ChangePrice(product_id=made.stream_id, price=Decimal(price), currency="EUR"),
            Context(actor="op-2", correlation_id=correlation),
        )
    events = list(StoredEvent.objects.filter(stream_id=made.stream_id).order_by("stream_version"))
    return made.stream_id, events


def test_the_stream_browser_shows_events_with_metadata_and_state_as_of_a_version_or_time() -> None:
    staff = signed_in("staff")
    stream_id, events = _stream_with_three_prices()
    base = "/admin/console/streams/"
    url = f"{base}?stream={stream_id}"

    now = staff.get(url)
    assert now.status_code == 200
    body = now.content.decode()
    assert body.count("products.PriceChanged") == 2 and "op-2" in body and "op-1" in body
    assert str(events[0].correlation_id)[:8] in body
    assert '"price": "12.00"' in state_of(body)

    first = staff.get(f"{url}&version=1").content.decode()
    assert '"price": "10.00"' in state_of(first)
    assert "at version 1" in first

    between = events[1].occurred_at + (events[2].occurred_at - events[1].occurred_at) / 2
    as_of = staff.get(base, {"stream": stream_id, "at": between.isoformat()}).content.decode()
    assert '"price": "11.00"' in state_of(as_of)

    before = (events[0].occurred_at - timedelta(days=1)).isoformat()
    empty = staff.get(base, {"stream": stream_id, "at": before}).content.decode()
    assert "no events yet at that time" in empty


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("version=abc", "whole number"),
        ("version=0", "between 1 and 3"),
        ("version=9", "between 1 and 3"),
        ("at=yesterday", "ISO 8601"),
        ("at=2026-13-45T99:00", "ISO 8601"),
        ("before=x", "whole number"),
    ],
)
def test_bad_input_to_the_stream_browser_is_a_400_with_the_reason(query: str, reason: str) -> None:
    staff = signed_in("staff")
    stream_id, _ = _stream_with_three_prices()
    answer = staff.get(f"/admin/console/streams/?stream={stream_id}&{query}")
    assert answer.status_code == 400
    assert reason in answer.content.decode()


def test_the_stream_browser_finds_streams_events_and_correlations() -> None:
    staff = signed_in("staff")
    stream_id, events = _stream_with_three_prices()
    base = "/admin/console/streams/"

    exact = staff.get(base, {"q": stream_id})
    assert exact.status_code == 302 and stream_id in exact["Location"]
    by_prefix = staff.get(base, {"q": stream_id[:8]}).content.decode()
    assert f"?stream={stream_id}" in by_prefix
    by_event = staff.get(base, {"q": str(events[1].event_id)})
    assert by_event.status_code == 302 and by_event["Location"].endswith("#v2")
    correlation = staff.get(base, {"q": str(events[2].correlation_id)}).content.decode()
    assert 'id="related"' in correlation and "products.PriceChanged" in correlation
    nothing = staff.get(base, {"q": "no-such-stream-anywhere"}).content.decode()
    assert "No stream, event or correlation matches" in nothing
    assert staff.get(base, {"stream": "no-such-stream"}).status_code == 404


def test_secrets_never_show_in_the_stream_browser() -> None:
    staff = signed_in("staff")
    someone = person()
    body = staff.get(f"/admin/console/streams/?stream={someone.account_id}").content.decode()
    assert "accounts.AccountRegistered" in body
    secret = someone.user.password.split("$")[-1]
    assert len(secret) > 8 and secret not in body and "(hidden)" in body


def test_an_event_links_to_its_trace() -> None:
    traced = EventEnvelope(
        event_id=uuid.uuid4(),
        stream_id="s",
        stream_type="t",
        stream_version=1,
        event_type="e",
        schema_version=1,
        occurred_at=timezone.now(),
        payload=None,
        trace_context="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    assert _trace_url(traced).endswith("/traces/0af7651916cd43dd8448eb211c80319c")
    assert _trace_url(dataclasses.replace(traced, trace_context=None)) == ""
