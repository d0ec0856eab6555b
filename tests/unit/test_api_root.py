from __future__ import annotations

from django.test import Client


def test_api_root_links_to_schema_docs_and_health() -> None:
    response = Client().get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["schema"].endswith("/api/schema/") and body["docs"].endswith("/api/docs/")
    assert body["ready"].endswith("/readyz")


def test_openapi_schema_is_served() -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert b"/api/v1/" in response.content
