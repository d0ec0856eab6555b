"""A real Prometheus (Debian's package, started by the stack script as `make metrics-up` does)
scrapes every process of the running system, evaluates the alert rules, and answers every query
the Grafana dashboard makes; `promtool` checks the rules and runs their unit tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import _free_port
from tests.e2e.test_shop import a_staff_member, an_admin, create_product
from tests.support.engine import stop_processes
from tests.support.http import Http
from tests.support.pg import ROOT, child_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROMETHEUS = f"http://127.0.0.1:{os.environ.get('STACK_PROMETHEUS_PORT', '9090')}"
TARGETS = ROOT / ".stack" / "prometheus" / "targets"
RULES = ROOT / "docker" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "docker" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "cqrs-platform.json"
# PromQL's own words among the identifiers the dashboard and the rules use.
PROMQL = {"histogram_quantile", "label_replace"}


def api(path: str, **params: str) -> Any:
    url = f"{PROMETHEUS}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
        reply = json.load(answer)
    assert reply["status"] == "success", reply
    return reply["data"]


def _ready() -> bool:
    try:
        with urllib.request.urlopen(f"{PROMETHEUS}/-/ready", timeout=2):  # noqa: S310
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """Prometheus from the stack script; stopped after if this module started it."""
    started = not _ready()
    stack = [sys.executable, str(ROOT / "stack" / "stack.py")]
    subprocess.run([*stack, "up", "prometheus"], cwd=ROOT, check=True, timeout=600)
    try:
        yield PROMETHEUS
    finally:
        if started:
            subprocess.run([*stack, "down", "prometheus"], cwd=ROOT, check=False, timeout=120)


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    words = set(re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", without_strings))
    return words - PROMQL - {"rate_interval"}


def test_promtool_checks_the_rules_and_their_unit_tests_pass(prometheus: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "the stack installs promtool with prometheus"
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_scrapes_every_process_and_answers_the_dashboard(
    live_system: Http, prometheus: str, tmp_path: Path
) -> None:
    # The beat, the one process the live system does not run, serving its metrics too.
    beat_port = _free_port()
    with open(tmp_path / "beat.log", "ab") as log:
        beat = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "INFO",
                "--schedule",
                str(tmp_path / "celerybeat-schedule"),
            ],
            cwd=ROOT,
            env=child_env(METRICS_PORT=str(beat_port)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    run = uuid.uuid4().hex[:12]
    endpoints = {**live_system.metrics, "beat": f"http://127.0.0.1:{beat_port}/metrics"}
    TARGETS.mkdir(parents=True, exist_ok=True)
    targets_file = TARGETS / f"test-{run}.json"
    targets_file.write_text(
        json.dumps(
            [
                {"targets": [urllib.parse.urlsplit(url).netloc], "labels": {"job": job, "run": run}}
                for job, url in endpoints.items()
            ]
        )
    )
    try:
        # Some traffic, so that every series the dashboard reads exists.
        staff = a_staff_member(live_system, an_admin(live_system))
        product = create_product(staff, stock=5)
        for price in ("11.00", "12.00", "13.00"):
            reply = staff.post(
                f"/api/v1/products/{product}/price/", {"price": price, "currency": "EUR"}
            )
            assert reply.status < 300, reply.body

        def health() -> dict[str, str]:
            return {
                target["labels"]["job"]: target["health"]
                for target in api("targets", state="active")["activeTargets"]
                if target["labels"].get("run") == run
            }

        wait_for(
            "Prometheus to scrape every process as up",
            lambda: health() == {job: "up" for job in endpoints},
            90,
        )
        up = api("query", query=f'up{{run="{run}"}}')["result"]
        assert {s["metric"]["job"]: s["value"][1] for s in up} == {job: "1" for job in endpoints}
        active = api("query", query=f'sum(relay_active{{run="{run}"}})')["result"]
        assert active and active[0]["value"][1] == "1"

        queries = dashboard_queries() + [rule["expr"] for rule in alert_rules()]
        wanted = set().union(*(metric_names(q) for q in queries))
        wait_for(
            "every series the dashboard and the rules read to be scraped",
            lambda: not wanted - set(api("label/__name__/values")),
            60,
        )
        for expr in dashboard_queries():
            api("query", query=expr.replace("$__rate_interval", "1m"))

        def rules_health() -> dict[str, str]:
            return {
                rule["name"]: rule["health"]
                for group in api("rules")["groups"]
                for rule in group["rules"]
            }

        names = {rule["alert"] for rule in alert_rules()}
        wait_for(
            "every alert rule to be evaluated without error",
            lambda: rules_health() == {name: "ok" for name in names},
            30,
        )
    finally:
        targets_file.unlink(missing_ok=True)
        stop_processes(beat)
