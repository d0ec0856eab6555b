"""The schema is a contract: a schema-driven fuzzer (Schemathesis) sends valid and invalid
requests to every operation as anonymous, customer, staff and admin, against a live server on
the real servers, and checks each answer: no 5xx, a documented status, the documented content
type and body schema, and every required documented header.

About 2,000 requests with a fixed seed (`API_FUZZ_SEED`, default below); `make fuzz` runs more
with a random seed. Half of the cases aim at things that exist (a product on sale, an order of
the customer, another person's account), the others at whatever the fuzzer makes up."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.conf import settings as django_settings
from django_redis import get_redis_connection
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.orders.handlers import place_order
from apps.shared.bus import Context
from tests.support.accounts import person
from tests.support.shop import a_product, run_engine

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

_seed = os.environ.get("API_FUZZ_SEED", "20261201")
SEED = random.randrange(2**32) if _seed == "random" else int(_seed)
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))  # per operation and role
ROLES = ("anonymous", "customer", "staff", "admin")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def api_schema() -> Any:
    generated = SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
    return schemathesis.openapi.from_dict(generated)


def bearer(*roles: str) -> tuple[dict[str, str], str]:
    someone = person(*roles)
    token = RefreshToken.for_user(someone.user).access_token
    return {"Authorization": f"Bearer {token}"}, someone.account_id


@pytest.fixture(autouse=True)
def _forget_login_attempts() -> Iterator[None]:
    """The fuzzer's logins count against the loopback address's login throttle: clear the
    counters after each role, so later tests log in from the same address freely."""
    yield
    client = get_redis_connection("default")
    for key in client.scan_iter(match=f"{django_settings.REDIS_KEY_PREFIX}:login:*", count=1000):
        client.delete(key)


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    """Things that exist, for the cases that aim at them."""
    product = a_product(stock=50, price="12.50")
    run_engine("products.catalog", "products.details", "products.price_history")
    customer = person()
    ctx = Context(actor=customer.account_id)
    order = place_order(customer.account_id, [(product, 1)], ctx).stream_id
    run_engine("orders.orders", "orders.timeline")
    victim = person()
    yield {
        "customer": customer,
        "path": {
            "product_id": product,
            "order_id": order,
            "account_id": victim.account_id,
            "profile_id": victim.account_id,
            "role": "staff",
            "board": "most-viewed",
        },
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_its_contract(
    role: str, api_schema: Any, world: dict[str, Any], live_server: Any
) -> None:
    if role == "anonymous":
        headers: dict[str, str] = {}
    elif role == "customer":
        customer = world["customer"]
        token = RefreshToken.for_user(customer.user).access_token
        headers = {"Authorization": f"Bearer {token}"}
    else:
        headers, _ = bearer(*(("staff",) if role == "staff" else ("staff", "admin")))
    session = requests.Session()
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    for result in api_schema.get_all_operations():
        operation = result.ok()
        known = {
            name: value
            for name, value in world["path"].items()
            if any(p.name == name for p in operation.path_parameters)
        }
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        if known and len(known) == len(list(operation.path_parameters)):
            strategies += [
                operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known),
                operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known),
            ]

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not minimise
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(*strategies))
        def exercise(case: Any) -> None:
            response = case.call(base_url=live_server.url, session=session, headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            exercise()
        except (Exception, FailureGroup) as exc:  # noqa: BLE001 - collect every operation's
            failures.append(f"{role} {operation.label}: {str(exc)[:1500]}")

    sent = sum(statuses.values())
    print(f"\nfuzz as {role}: {sent} requests, seed {SEED}, statuses {sorted(statuses.items())}")
    assert sent >= EXAMPLES * 30
    assert not failures, "\n\n".join(failures)
