"""/healthz and /readyz against the real servers, including one that goes down."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import stack


def test_healthz_answers_without_touching_servers(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_all_four_servers_answer(client: Client) -> None:
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["down"] == []
    assert set(body["checks"]) == {"postgres", "redis", "rabbitmq", "kafka"}


@pytest.mark.slow
def test_readyz_is_503_naming_kafka_while_kafka_is_stopped(client: Client) -> None:
    stack("down", "kafka")
    try:
        response = client.get("/readyz")
        body = response.json()
        assert response.status_code == 503
        assert body["down"] == ["kafka"]
        assert body["checks"]["kafka"]["status"] == "down"
        assert body["checks"]["kafka"]["reason"]
    finally:
        stack("up", "kafka")
    assert client.get("/readyz").status_code == 200
