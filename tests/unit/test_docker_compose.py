"""docker/compose.yaml cannot run on these machines; check it against the settings instead."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import get_commands

from config.env import env

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
INFRA_IMAGES = ("postgres:", "redis:", "rabbitmq:", "apache/kafka:")


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def app_services() -> dict[str, dict[str, Any]]:
    services = load_compose()["services"]
    return {name: svc for name, svc in services.items() if "build" in svc}


def names_the_settings_read(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "compose-test")
    for module in ("base", "development", "production", "test"):
        importlib.reload(importlib.import_module(f"config.django.{module}"))
    return set(env.names_read)


def environment_names(service: dict[str, Any]) -> set[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return {item.split("=", 1)[0] for item in environment}
    return set(environment)


def test_compose_has_the_four_official_server_images_and_the_app_processes() -> None:
    services = load_compose()["services"]
    images = [svc.get("image", "") for svc in services.values() if "build" not in svc]
    for prefix in INFRA_IMAGES:
        assert any(image.startswith(prefix) for image in images), prefix
    assert {"web", "worker", "follower", "relay", "migrate"} <= set(app_services())
    assert load_compose()["services"]["rabbitmq"]["image"].endswith("-management")


def test_every_variable_the_app_services_set_is_one_the_settings_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = names_the_settings_read(monkeypatch)
    for name, service in app_services().items():
        unknown = {
            name
            for name in environment_names(service) - read - {"DJANGO_SETTINGS_MODULE"}
            if not name.startswith("OTEL_")  # the OpenTelemetry SDK's own variables
        }
        assert not unknown, f"service {name} sets variables no setting reads: {sorted(unknown)}"


def test_app_services_point_every_server_address_away_from_loopback() -> None:
    for name, service in app_services().items():
        environment = service["environment"]
        for var in ("POSTGRES_HOST", "REDIS_HOST", "RABBITMQ_HOST", "KAFKA_BOOTSTRAP_SERVERS"):
            assert var in environment, f"{name} lacks {var}"
            assert "127.0.0.1" not in environment[var] and "localhost" not in environment[var]


def test_app_service_commands_name_commands_that_exist() -> None:
    for name, service in app_services().items():
        command = " ".join(service.get("command", []))
        for sub in re.findall(r"manage\.py (\w+)", command):
            assert sub in get_commands(), f"service {name} runs unknown manage.py {sub}"


def test_every_setting_is_documented_in_the_readme(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        name for name in sorted(names_the_settings_read(monkeypatch)) if f"`{name}`" not in readme
    ]
    assert not missing, f"settings missing from README.md: {missing}"


def test_prometheus_scrapes_every_app_process_where_it_serves_its_metrics() -> None:
    compose = load_compose()
    config = yaml.safe_load((ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    scraped = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    served = {"web:8000"} | {
        f"{name}:{service['environment']['METRICS_PORT']}"
        for name, service in app_services().items()
        if "METRICS_PORT" in service["environment"]
    }
    assert scraped == served
    assert {"worker", "follower", "relay", "beat"} <= {t.split(":")[0] for t in served}
    mounts = " ".join(compose["services"]["prometheus"]["volumes"])
    assert "alerts.yml" in mounts and "prometheus.yml" in mounts
    grafana = " ".join(compose["services"]["grafana"]["volumes"])
    assert "./grafana/dashboards:/var/lib/grafana/dashboards" in grafana
    provider = yaml.safe_load(
        (ROOT / "docker/grafana/provisioning/dashboards/cqrs.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
