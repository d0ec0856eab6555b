"""The schema is usable: a typed Python client generated from `/api/schema/` (by
openapi-python-client) drives a whole flow against the running system, and meets a 412 and a
409 as typed errors (the schema's ErrorEnvelope), never as untyped JSON."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.core.management import call_command

from tests.support.http import Http

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "correct horse battery staple"
PACKAGE = "cqrs_api_client"


@pytest.fixture
def generated(live_system: Http, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package, generated from the schema the running web server serves."""
    schema = Http(live_system.base).get("/api/schema/?format=json")
    assert schema.status == 200
    spec = tmp_path / "schema.json"
    spec.write_text(json.dumps(schema.body))
    config = tmp_path / "config.yaml"
    config.write_text(f"project_name_override: cqrs-api-client\npackage_name_override: {PACKAGE}\n")
    venv_bin = Path(sys.executable).parent
    done = subprocess.run(
        [
            str(venv_bin / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": f"{venv_bin}:/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def op(name: str) -> Any:
    """An operation's module: `products.products_price_create`."""
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def model(name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def EUR() -> Any:  # noqa: N802 - the generated enum's member
    return model("CurrencyEnum")("EUR")


def test_a_generated_client_drives_a_whole_flow(live_system: Http, generated: ModuleType) -> None:
    base = live_system.base
    anonymous = generated.Client(base_url=base, raise_on_unexpected_status=True)
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    call_command("create_admin", email=admin_email, password=PASSWORD, stdout=StringIO())

    def log_in(email: str) -> Any:
        tokens = op("auth.auth_token_create").sync(
            client=anonymous, body=model("LoginInputRequest")(email=email, password=PASSWORD)
        )
        assert isinstance(tokens, model("Tokens")), tokens
        return generated.AuthenticatedClient(
            base_url=base, token=tokens.access, raise_on_unexpected_status=True
        )

    # Register, log in; an admin makes the new account staff.
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    registered = op("accounts.accounts_create").sync_detailed(
        client=anonymous, body=model("AccountRegisterInputRequest")(email=email, password=PASSWORD)
    )
    assert registered.status_code == 201 and registered.headers["Location"]
    account = registered.parsed
    assert isinstance(account, model("CommandResult"))
    admin = log_in(admin_email)
    granted = op("accounts.accounts_roles_create").sync(
        account.id,
        client=admin,
        body=model("RoleGrantInputRequest")(role=model("RoleEnum")("staff")),
    )
    assert isinstance(granted, model("CommandResult"))
    staff = log_in(email)

    # Create and publish a product; change its price over the version it has.
    made = op("products.products_create").sync_detailed(
        client=staff,
        body=model("ProductsInputRequest")(
            sku=f"MUG-{uuid.uuid4().hex[:8]}",
            name="Mug",
            price="12.50",
            currency=EUR(),
        ),
    )
    assert made.status_code == 201, made.content
    product = made.parsed
    published = op("products.products_publish_create").sync(product.id, client=staff)
    assert isinstance(published, model("CommandResult"))
    changed = op("products.products_price_create").sync_detailed(
        product.id,
        client=staff,
        body=model("PriceChangeInputRequest")(price="9.99", currency=EUR()),
        if_match=f'"{published.version}"',
    )
    assert changed.status_code == 200 and changed.headers["ETag"] == f'"{published.version + 1}"'
    token = changed.headers["X-Consistency-Token"]

    # Read it back, waiting for that write.
    page = op("products.products_retrieve").sync_detailed(
        product.id, client=anonymous, x_consistency_token=token, max_wait=10.0
    )
    assert page.status_code == 200 and page.headers["X-Consistency"] == "fresh"
    assert isinstance(page.parsed, model("ProductPage"))
    assert (page.parsed.price, page.parsed.version) == ("9.99", published.version + 1)

    # A stale If-Match is a 412, typed.
    stale = op("products.products_price_create").sync_detailed(
        product.id,
        client=staff,
        body=model("PriceChangeInputRequest")(price="8.50", currency=EUR()),
        if_match=f'"{published.version}"',
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, model("ErrorEnvelope"))
    assert stale.parsed.error.code == "precondition_failed"

    # Reserving more than there is: a 409, typed, with the domain's code.
    short = op("products.products_reservations_create").sync_detailed(
        product.id, client=staff, body=model("ReservationsInputRequest")(quantity=5)
    )
    assert short.status_code == 409
    assert isinstance(short.parsed, model("ErrorEnvelope"))
    assert short.parsed.error.code == "insufficient_stock"

    # The same email again: a 409 too.
    again = op("accounts.accounts_create").sync_detailed(
        client=anonymous, body=model("AccountRegisterInputRequest")(email=email, password=PASSWORD)
    )
    assert again.status_code == 409 and again.parsed.error.code == "already_taken"
