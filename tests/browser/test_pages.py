"""The pages people open, in a real browser: the API docs (Swagger UI, ReDoc), the admin's
login, the catalog with an action, the projection status page and the dead letters. Each renders
with no console error, no failed request and no request to another host."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.products import commands as products
from apps.shared.bus import dispatch
from projections.models import DeadLetter
from tests.browser.conftest import Watched, log_in
from tests.support.shop import a_product, run_engine

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def operation_count() -> int:
    schema = SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
    return sum(
        1
        for item in schema["paths"].values()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def test_swagger_ui_lists_every_operation_and_logs_in_with_the_token_endpoint(
    page: Watched, admin_login: tuple[str, str]
) -> None:
    tab = page.page
    tab.goto("/api/docs/")
    tab.wait_for_selector(".opblock")
    expected = operation_count()
    tab.wait_for_function(f"document.querySelectorAll('.opblock').length === {expected}")
    assert tab.locator("button.authorize").count() == 1  # the JWT login button
    assert tab.locator(".opblock-tag").count() >= 8  # one section per module

    # The token endpoint's answer authorizes the page (as "Try it out" on it would).
    email, password = admin_login
    tab.evaluate(
        """([email, password]) => fetch("/api/v1/auth/token/", {
            method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({email, password}),
        }).then((r) => r.status)""",
        [email, password],
    )
    tab.wait_for_function("Object.keys(ui.authSelectors.authorized().toJS()).includes('jwtAuth')")
    page.clean()


def test_redoc_renders_the_schema_offline(page: Watched) -> None:
    tab = page.page
    tab.goto("/api/redoc/")
    tab.wait_for_selector("text=Change the price", state="attached")
    tab.wait_for_load_state("networkidle")
    page.clean()


def test_an_operator_logs_in_and_is_greeted_by_email(
    page: Watched, admin_login: tuple[str, str]
) -> None:
    email, password = admin_login
    log_in(page.page, email, password)
    assert email in page.page.inner_text("#user-tools").lower()
    page.clean()


def test_the_catalog_changes_a_price_through_an_admin_action(
    page: Watched, admin_login: tuple[str, str]
) -> None:
    product = a_product(price="20.00")
    run_engine("products.catalog")
    log_in(page.page, *admin_login)
    tab = page.page
    tab.goto("/admin/products/catalogentry/")
    tab.check(f"input[name=_selected_action][value='{product}']")
    tab.select_option("select[name=action]", "change_price")
    tab.fill("input[name=value]", "17.50")
    tab.click("button[name=index]")
    tab.wait_for_selector(".messagelist")
    assert "price changed: 1" in tab.inner_text(".messagelist").lower()
    run_engine("products.catalog")
    tab.goto("/admin/products/catalogentry/")
    assert "17.50" in tab.inner_text("#result_list")
    page.clean()


def test_the_projection_status_page_shows_every_read_model(
    page: Watched, admin_login: tuple[str, str]
) -> None:
    dispatch(
        products.CreateProduct(
            sku=f"S-{uuid.uuid4().hex[:8]}",
            name="Lamp",
            description="",
            price=Decimal("5.00"),
            currency="EUR",
        )
    )
    run_engine("products.catalog")
    log_in(page.page, *admin_login)
    tab = page.page
    tab.goto("/admin/projections/checkpoint/status/")
    body = tab.inner_text("body")
    for name in ("products.catalog", "orders.orders", "notifications.inbox"):
        assert name in body, name
    page.clean()


def test_the_dead_letter_pages_show_a_parked_event(
    page: Watched, admin_login: tuple[str, str]
) -> None:
    letter = DeadLetter.objects.create(
        projection="products.catalog",
        topic="products",
        partition=0,
        offset=7,
        stream_id=str(uuid.uuid4()),
        stream_version=3,
        event_id=uuid.uuid4(),
        event_type="products.PriceChanged",
        message=b"{}",
        status=DeadLetter.Status.PARKED,
        error="ValueError: bad price",
        traceback="Traceback (most recent call last): ...",
        attempts=3,
    )
    log_in(page.page, *admin_login)
    tab = page.page
    tab.goto("/admin/projections/deadletter/")
    assert "products.PriceChanged" in tab.inner_text("#result_list")
    tab.goto(f"/admin/projections/deadletter/{letter.pk}/change/")
    assert "ValueError: bad price" in tab.inner_text("#content")
    page.clean()


def test_every_admin_page_and_the_browsable_api_load_nothing_from_another_host(
    page: Watched, admin_login: tuple[str, str]
) -> None:
    from django.contrib import admin
    from django.urls import reverse

    a_product()
    run_engine("products.catalog")
    log_in(page.page, *admin_login)
    tab = page.page
    opened = ["/admin/", "/admin/console/", "/admin/console/streams/", "/api/v1/"]
    opened += ["/api/v1/products/", "/admin/console/consumers/products.catalog/"]
    for model in admin.site._registry:
        meta = model._meta
        opened.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    for url in opened:
        response = tab.goto(url)
        assert response is not None and response.status == 200, url
        tab.wait_for_load_state("networkidle")
    assert len(opened) > 10
    page.clean()


def test_the_operator_console_pages_render_and_lead_from_a_consumer_to_a_stream(
    page: Watched, admin_login: tuple[str, str]
) -> None:
    from projections import console

    product = a_product()
    run_engine("products.catalog")
    console.record()
    log_in(page.page, *admin_login)
    tab = page.page
    tab.click("#console-link")
    tab.wait_for_url("**/admin/console/")
    catalog = tab.locator('tr[data-consumer="products.catalog"]')
    assert catalog.get_attribute("data-state") == "following"
    assert "read model" in catalog.inner_text()
    catalog.locator("a").first.click()
    tab.wait_for_url("**/admin/console/consumers/products.catalog/")
    assert tab.locator("#partitions tbody tr").count() >= 1
    assert tab.inner_text("#state") == "following"
    tab.click("text=Event streams")
    tab.fill("#q", product[:8])
    tab.click("#find input[type=submit]")
    tab.click(f"a[href='?stream={product}']")
    tab.wait_for_selector("#events")
    assert "products.ProductCreated" in tab.inner_text("#events")
    assert '"published": true' in tab.inner_text("#state")
    tab.click("#v1 >> text=state here")
    tab.wait_for_selector("#state")
    assert '"published": false' in tab.inner_text("#state")
    page.clean()
