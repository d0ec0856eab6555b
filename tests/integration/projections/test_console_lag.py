"""The console shows what an operator needs when the workers stop: with no worker and no follower
running, commands go on and the catalog's lag rises in the samples and on the page, which calls it
stalled; started again, the follower and a worker bring the lag back to zero, the page says
following, and the chart's history has risen and fallen."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.test import Client

from projections import console
from tests.support.accounts import person
from tests.support.engine import relay, start_follower, start_worker, stop_processes
from tests.support.pg import wait_for
from tests.support.shop import a_product, skip_earlier_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CATALOG = "products.catalog"


def row(page: str, name: str) -> dict[str, str]:
    start = page.index(f'data-consumer="{name}"')
    tag = page[start : page.index(">", start)]
    return dict(part.split("=", 1) for part in tag.replace('"', "").split() if "=" in part)


def catalog_lag() -> int:
    return next(c.lag for c in console.current() if c.name == CATALOG)


def test_lag_rises_on_the_console_under_a_stopped_worker_and_falls_after(tmp_path: Path) -> None:
    skip_earlier_events()
    staff = Client()
    staff.force_login(person("staff").user)
    started = time.time()
    console.record()
    for _ in range(2):
        for _ in range(10):
            a_product(stock=0)
        relay()
        console.record()
    rising = [s.lag for s in console.history([CATALOG])[CATALOG] if s.at >= started]
    assert len(rising) == 3 and rising[0] < rising[1] < rising[2], rising

    time.sleep(max(0.0, console.STALL_AFTER + 0.5 - (time.time() - started)))
    stalled = row(staff.get("/admin/console/").content.decode(), CATALOG)
    assert stalled["data-state"] == console.STALLED
    assert int(stalled["data-lag"]) >= rising[2] >= 20

    worker = start_worker(
        tmp_path / "worker.log", "-c", "2", queues="default,projections,side_effects"
    )
    follower = start_follower(tmp_path / "follower.log")
    try:
        wait_for("the catalog to catch up", lambda: catalog_lag() == 0, 60)
        console.record()
        page = staff.get("/admin/console/").content.decode()
        assert row(page, CATALOG)["data-state"] == console.FOLLOWING
        assert row(page, CATALOG)["data-lag"] == "0"
        lags = [s.lag for s in console.history([CATALOG])[CATALOG] if s.at >= started]
        assert max(lags) >= rising[2] and lags[-1] == 0, lags
        assert lags.index(max(lags)) < len(lags) - 1
        detail = staff.get(f"/admin/console/consumers/{CATALOG}/").content.decode()
        assert "<polyline" in detail and 'id="partitions"' in detail
    finally:
        stop_processes(worker, follower)
