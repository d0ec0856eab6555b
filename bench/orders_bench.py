"""Orders over HTTP: how many a second are placed, and how long from placed to fulfilled, beside
a single price change's command rate in the same run.

gunicorn (2 workers x 4 threads), a Celery worker on every queue (the fulfilment reaction, the
payment side effect, the simulated provider answering at once, the kitchen taking no time), the
follower and the relay run as in the Procfile. wrk places orders (one line, a random product of
many) and changes prices at 8 connections; once every order placed has ended, orders are placed
at a steady pace (PACE a second) and each one's placement-to-fulfilled time is read from the store
(the two events' times).

    python -m bench.orders_bench [--quick] [--runs N]      (or: make bench-orders)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench import common
from bench.http_bench import (
    GUNICORN,
    LUA,
    free_port,
    run_wrk,
    seed,
    wait_until_served,
    write_script,
)

PACE = 3.0  # orders a second for the latency: below what the process drains (about 7 here)
ORDER = '{"lines": [{"product_id": "%s", "quantity": 1}]}'
SCENARIOS = {
    # name: (method, path template, body template): 8 connections each; the price changes
    # first, on a quiet system (the orders' process then works on the same products)
    "command: change price": (
        "POST",
        "/api/v1/products/%s/price/",
        '{"price": "%s", "currency": "EUR"}',
    ),
    "place an order": ("POST", "/api/v1/orders/", None),
}
# The order's body takes the product id, not a price: the Lua builds it from the id.
ORDER_LUA = LUA.replace(
    "  if body then b = string.format(body, price) end\n"
    "  return wrk.format(method, string.format(path, id), nil, b)",
    "  if body then b = string.format(body, price) end\n"
    "  if path == '/api/v1/orders/' then\n"
    "    b = string.format('" + ORDER.replace("%s", "%%s") + "', id)\n"
    "    return wrk.format(method, path, nil, b)\n"
    "  end\n"
    "  return wrk.format(method, string.format(path, id), nil, b)",
)


def place_at_a_pace(
    base: str, token: str, ids: list[str], rate: float, seconds: float
) -> list[str]:
    """Orders placed at `rate` a second for `seconds`; their ids."""
    placed: list[str] = []
    lock = threading.Lock()

    def one(product_id: str) -> None:
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{base}/api/v1/orders/",
            data=(ORDER % product_id).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            made = json.loads(response.read())["id"]
        with lock:
            placed.append(made)

    threads = []
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        t = threading.Thread(target=one, args=(ids[n % len(ids)],))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return placed


def in_flight() -> int:
    """Orders without a final event yet (read from the store, not a read model)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM es_stream s WHERE s.stream_type = 'orders.Order' AND NOT "
            "EXISTS (SELECT 1 FROM es_event e WHERE e.stream_id = s.stream_id AND e.event_type "
            "IN ('orders.OrderFulfilled', 'orders.OrderRejected', 'orders.PaymentFailed', "
            "'orders.OrderCancelled'))"
        )
        return int(cur.fetchone()[0])


def drain(timeout: float = 300) -> float:
    """Wait for every order placed so far to end; the seconds it took."""
    start = time.monotonic()
    while in_flight() and time.monotonic() - start < timeout:
        time.sleep(1.0)
    return time.monotonic() - start


def fulfilment_latencies(order_ids: list[str], timeout: float = 300) -> list[float]:
    """Seconds from OrderPlaced to OrderFulfilled of each order, once all are fulfilled."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT stream_id, max(occurred_at) FILTER (WHERE event_type = "
                "'orders.OrderFulfilled') - min(occurred_at) FROM es_event "
                "WHERE stream_id = ANY(%s) GROUP BY stream_id",
                [order_ids],
            )
            rows = cur.fetchall()
        done = [lag.total_seconds() for _, lag in rows if lag is not None]
        if len(done) == len(order_ids) or time.monotonic() > deadline:
            return done
        time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about two minutes)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    os.environ.update(
        {
            "JWT_ACCESS_TTL": "7200",
            "ORDERS_FULFILMENT_SECONDS": "0",
            "PAYMENTS_SIMULATED_DELAY": "0",
            # Every payment paid: the price changes leave amounts the simulated provider would
            # decline or leave to time out (no celery beat fires timers here).
            "PAYMENTS_SIMULATED_OUTCOME": "paid",
        }
    )
    common.configure_env("bench.http_settings")
    common.setup()
    seconds = 3.0 if args.quick else 10.0
    ids, token = seed(40 if args.quick else 200)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = [
        common.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                *GUNICORN,
            ],
        ),
        common.start_worker("worker", "default,projections,side_effects,notifications,orders"),
        common.start_follower(),
        common.start_relay(),
    ]
    samples: dict[str, dict[str, list[float]]] = {}
    try:
        wait_until_served(base, ids)
        time.sleep(2.0)  # the catalog (what orders are priced from) behind the product pages
        with tempfile.TemporaryDirectory() as tmp:
            for name, (method, path, body) in SCENARIOS.items():
                script = write_script(
                    Path(tmp) / "script.lua", ORDER_LUA, ids, method, path, body, token
                )
                run_wrk(base, script, 8, 1.0)  # warm up
                for _ in range(args.runs):
                    for key, value in run_wrk(base, script, 8, seconds).items():
                        samples.setdefault(name, {}).setdefault(key, []).append(value)
                print(f"  {name:<24}{statistics.median(samples[name]['rps']):>8.0f} req/s")
        drained = drain()
        print(f"  the orders placed by wrk all ended {drained:.0f} s after wrk stopped")
        paced = place_at_a_pace(base, token, ids, rate=PACE, seconds=seconds * 3)
        lags = fulfilment_latencies(paced)
    finally:
        common.stop(procs)
        common.teardown()
    figures = {f"{name} req/s": common.summarize(s)["rps"] for name, s in samples.items()}
    med = common.medians(figures)
    latency = {
        "p50_s": common.percentile(lags, 0.5) if lags else None,
        "p99_s": common.percentile(lags, 0.99) if lags else None,
        "fulfilled": len(lags),
        "placed": len(paced),
    }
    print(f"\nplaced -> fulfilled at {PACE:g} orders/s: {latency}")
    common.report(
        "orders",
        figures,
        {
            "orders placed / price changes": (
                common.ratio(med("place an order req/s"), med("command: change price req/s")),
                "a placement prices from the catalog and appends one event",
            )
        },
        "requests/s",
        {
            "placed_to_fulfilled": latency,
            "backlog_drained_seconds": drained,
            "pace_orders_per_second": PACE,
            "quick": args.quick,
            "seconds_per_run": seconds,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
