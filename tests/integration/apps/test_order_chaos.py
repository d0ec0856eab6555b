"""The fulfilment process under kill -9: 200 orders (some short of stock, some declined) run by a
worker that is killed at random moments and restarted. Every order ends in a final state, every
reservation is consumed by a fulfilled order or released, no payment is requested twice; and a
rebuild of every read model afterwards issues no command and requests no payment."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from apps.orders import commands as orders
from apps.orders.aggregates import Order
from apps.orders.events import OrderLine
from apps.orders.reactions import reservation_id
from apps.products.aggregates import Product
from apps.shared.bus import current, dispatch
from projections.tasks import catch_up_all, sweep_side_effects
from tests.integration.projections.conftest import _purge_queues, _switches_off
from tests.support.accounts import person
from tests.support.engine import own_log, start_worker
from tests.support.pg import start_relay, wait_for
from tests.support.shop import a_product

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ORDERS = 200
FINAL = ("fulfilled", "rejected", "payment_failed", "cancelled")
QUEUES = "default,projections,side_effects,notifications,orders"
FAST = {"ORDERS_FULFILMENT_SECONDS": "0.05", "PAYMENTS_SIMULATED_DELAY": "0.05"}


@pytest.fixture
def own_topics() -> Iterator[str]:
    _purge_queues()
    _switches_off()
    with own_log() as prefix:
        yield prefix


def states(order_ids: list[str]) -> dict[str, str]:
    return {o: current().load(Order, o).state for o in order_ids}


def all_ended(order_ids: list[str]) -> bool:
    catch_up_all.delay()  # the periodic safety net (beat does not run here)
    sweep_side_effects.delay(older_than=1.0)  # jobs a worker killed before running them left
    time.sleep(0.5)
    return all(s in FINAL for s in states(order_ids).values())


def count(sql: str) -> int:
    with connection.cursor() as cur:
        cur.execute(sql)
        return int(cur.fetchone()[0])


def explain(product_id: str, odd: set[str], placed: list[str], logs: Path) -> str:
    """What a failure needs to be understood: each odd reservation's order, its events in log
    order, the process's facts about it, dead letters, and the workers' complaints about it."""
    lines = [f"product {product_id}: reservations held but not consumed, or the reverse"]
    by_reservation = {reservation_id(o, product_id): o for o in placed}
    with connection.cursor() as cur:
        for held in sorted(odd):
            order_id = by_reservation.get(held, "?")
            lines.append(f"reservation {held} of order {order_id}:")
            cur.execute(
                "SELECT o.id, e.event_type, e.actor FROM es_event e "
                "LEFT JOIN es_outbox o ON o.event_position = e.position "
                "WHERE e.stream_id = %s OR (e.stream_id = %s AND e.payload::text LIKE %s) "
                "ORDER BY e.position",
                [order_id, product_id, f"%{held}%"],
            )
            lines += [f"  {r}" for r in cur.fetchall()]
            cur.execute(
                "SELECT scope, key, valid_from, valid_to FROM proj_fact WHERE subject = %s",
                [order_id],
            )
            lines += [f"  fact {r}" for r in cur.fetchall()]
        cur.execute("SELECT projection, status, error FROM proj_dead_letter")
        lines += [f"dead letter {r}" for r in cur.fetchall()]
        cur.execute("SELECT * FROM proj_reaction")
        lines += [f"reaction {r}" for r in cur.fetchall()]
    for log in sorted(logs.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if '"WARNING"' in line or '"ERROR"' in line:
                lines.append(f"{log.name}: {line[:400]}")
    return "\n".join(lines[:400])


def test_orders_survive_a_worker_killed_at_random_moments(own_topics: str, tmp_path: Path) -> None:
    rng = random.Random(20261201)
    # 4000 minor units: paid; 4013: declined (the simulated provider's test amounts).
    paid = [a_product(stock=40, price="40.00") for _ in range(3)]
    declined = a_product(stock=40, price="40.13")
    customers = [person().account_id for _ in range(10)]
    placed: list[str] = []
    for i in range(ORDERS):
        lines: tuple[OrderLine, ...]
        if i % 7 == 0:
            lines = (OrderLine(declined, 1, 4013, "EUR"),)
        else:
            chosen = rng.sample(paid, rng.randint(1, 2))
            lines = tuple(OrderLine(p, rng.randint(1, 3), 4000, "EUR") for p in chosen)
        placed.append(dispatch(orders.PlaceOrder(customers[i % 10], lines)).stream_id)

    relay_process = start_relay(tmp_path / "relay.log")
    kills = 0
    try:
        for round_ in range(4):
            worker = start_worker(
                tmp_path / f"worker{round_}.log", "-c", "2", queues=QUEUES, env=FAST
            )
            if round_ < 3:
                time.sleep(rng.uniform(2.0, 6.0))
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=30)
                kills += any(s not in FINAL for s in states(placed).values())
                continue
            try:
                wait_for("every order to end", lambda: all_ended(placed), 300)
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
    finally:
        relay_process.send_signal(signal.SIGTERM)
        relay_process.wait(timeout=60)
    assert kills >= 1, "every kill came after the work was done: nothing was tested"

    ended = states(placed)
    fulfilled = [o for o in placed if ended[o] == "fulfilled"]
    assert fulfilled and any(s == "rejected" for s in ended.values())
    assert all(ended[o] == "payment_failed" for i, o in enumerate(placed) if i % 7 == 0)
    # Every reservation is consumed by a fulfilled order or released; the stock adds up.
    for product_id in [*paid, declined]:
        product = current().load(Product, product_id)
        held = set(product.reservations)
        consumed = {
            reservation_id(o, product_id)
            for o in fulfilled
            if product_id in {line.product_id for line in current().load(Order, o).lines}
        }
        assert held == consumed, explain(product_id, held ^ consumed, placed, tmp_path)
        sold = sum(
            line.quantity
            for o in fulfilled
            for line in current().load(Order, o).lines
            if line.product_id == product_id
        )
        assert product.stock == 40 - sold
    # No payment requested twice: one request per order that reached payment, one job for it.
    requests = count("SELECT count(*) FROM es_event WHERE event_type = 'orders.PaymentRequested'")
    jobs = count("SELECT count(*) FROM proj_side_effect WHERE effect = 'orders.payments'")
    assert jobs == requests
    assert requests == count(
        "SELECT count(DISTINCT stream_id) FROM es_event "
        "WHERE event_type = 'orders.PaymentRequested'"
    )

    # A rebuild of every read model decides nothing, asks for no payment and sends no mail.
    events = count("SELECT count(*) FROM es_event")
    mail = count("SELECT count(*) FROM proj_side_effect WHERE effect = 'notifications.delivery'")
    call_command("replay_projections", "--all", "--jobs", "1")
    assert count("SELECT count(*) FROM es_event") == events
    assert count("SELECT count(*) FROM proj_side_effect WHERE effect = 'orders.payments'") == jobs
    assert (
        count("SELECT count(*) FROM proj_side_effect WHERE effect = 'notifications.delivery'")
        == mail
    )
    assert Decimal(requests) > 0
