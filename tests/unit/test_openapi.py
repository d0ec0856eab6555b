"""The OpenAPI schema is generated without a warning, documents every API endpoint, and
documents every operation by the one rule of apps/shared/schema.py."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from django.core.management import call_command
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.public import IsStaff
from apps.shared.api import COMMAND_RESULT

WRITES = ("post", "put", "patch", "delete")
ENVELOPE = "#/components/schemas/ErrorEnvelope"


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return dict(yaml.safe_load(out.read_text()))


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (url, method, op)
        for url, item in schema["paths"].items()
        for method, op in item.items()
        if method in (*WRITES, "get")
    ]


def test_the_schema_validates_without_warnings_and_lists_the_module_endpoints(
    schema: dict[str, Any],
) -> None:
    for url in (
        "/api/v1/accounts/",
        "/api/v1/auth/token/",
        "/api/v1/accounts/{account_id}/erase/",
        "/api/v1/profiles/me/",
        "/api/v1/users/",
        "/api/v1/orders/",
        "/api/v1/products/{product_id}/prices/",
    ):
        assert url in schema["paths"], f"{url} missing from the schema"


def test_every_error_an_operation_documents_is_the_one_envelope(schema: dict[str, Any]) -> None:
    for url, method, op in operations(schema):
        errors = {code: r for code, r in op["responses"].items() if code >= "400"}
        assert "400" in errors or not op.get("parameters") and "requestBody" not in op, (
            url,
            method,
        )
        for code, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == ENVELOPE, (url, method, code)
            assert response["description"], (url, method, code)
        if op.get("security") != [{}]:  # authenticated operations can be refused
            assert "401" in errors, (url, method)


def test_commands_take_and_answer_the_write_headers(schema: dict[str, Any]) -> None:
    commands = 0
    for url, method, op in operations(schema):
        ok = next(r for code, r in op["responses"].items() if code.startswith("2"))
        body = ok.get("content", {}).get("application/json", {}).get("schema", {})
        if body.get("$ref", "").rsplit("/", 1)[-1] not in ("CommandResult", "Reservation"):
            continue
        commands += 1
        assert {"ETag", "X-Consistency-Token", "Idempotent-Replayed"} <= set(ok["headers"]), url
        assert {"409", "422"} <= set(op["responses"]), (url, method)
        names = {p["name"] for p in op.get("parameters", [])}
        if url != "/api/v1/payments/callback/":
            assert {"Idempotency-Key", "X-Correlation-ID"} <= names, (url, method)
        if "If-Match" in names:
            assert "412" in op["responses"], (url, method)
    assert commands >= 24


def test_creates_say_where_to_read_what_they_created(schema: dict[str, Any]) -> None:
    for url in ("/api/v1/accounts/", "/api/v1/products/", "/api/v1/orders/"):
        created = schema["paths"][url]["post"]["responses"]["201"]
        assert created["headers"]["Location"]["required"] is True, url


def test_reads_that_wait_for_a_token_say_so(schema: dict[str, Any]) -> None:
    for url in ("/api/v1/products/", "/api/v1/products/{product_id}/", "/api/v1/orders/"):
        op = schema["paths"][url]["get"]
        names = {p["name"] for p in op["parameters"]}
        assert {"X-Consistency-Token", "consistent_with", "max_wait"} <= names, url
        assert "X-Consistency" in op["responses"]["200"]["headers"], url


def test_every_write_with_a_body_has_an_example_that_fits_its_schema(
    schema: dict[str, Any],
) -> None:
    checked = 0
    for url, method, op in operations(schema):
        if method not in WRITES or "requestBody" not in op:
            continue
        media = op["requestBody"]["content"]["application/json"]
        if media["schema"].get("type") == "object":  # the provider's callback: any object
            continue
        assert "examples" in media, f"{method} {url} has no example"
        example = media["examples"]["example"]["value"]
        root = {**media["schema"], "components": schema["components"]}
        jsonschema.validate(example, root)
        checked += 1
    assert checked >= 15


def test_the_api_speaks_json_only_and_names_its_security_schemes(schema: dict[str, Any]) -> None:
    for url, _method, op in operations(schema):
        if "requestBody" in op:
            assert set(op["requestBody"]["content"]) == {"application/json"}, url
    assert set(schema["components"]["securitySchemes"]) == {"jwtAuth", "cookieAuth"}


class NewReadApi(APIView):
    """A made-up endpoint a new module might add: it declares, the rule documents."""

    permission_classes = [IsStaff]
    read_models = ["new.read_model"]
    etag = True

    @extend_schema(responses={200: COMMAND_RESULT})
    def get(self, request: Request, thing_id: str) -> Response:
        raise NotImplementedError

    @extend_schema(request=None, responses={200: COMMAND_RESULT})
    def post(self, request: Request, thing_id: str) -> Response:
        raise NotImplementedError


def test_a_new_endpoint_is_documented_by_the_same_rule() -> None:
    generated = SchemaGenerator(  # type: ignore[no-untyped-call]
        patterns=[path("things/<str:thing_id>/", NewReadApi.as_view())]
    ).get_schema(request=None, public=True)
    item = generated["paths"]["/things/{thing_id}/"]
    read, write = item["get"], item["post"]
    assert {p["name"] for p in read["parameters"]} >= {"X-Consistency-Token", "max_wait"}
    assert {"ETag", "X-Consistency"} <= set(read["responses"]["200"]["headers"])
    assert set(read["responses"]) == {"200", "400", "401", "403", "404"}
    assert {p["name"] for p in write["parameters"]} >= {"If-Match", "Idempotency-Key"}
    assert set(write["responses"]) == {"200", "401", "403", "404", "400", "409", "412", "422"}
