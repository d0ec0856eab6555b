"""Where the time goes: pyinstrument profiles of the paths whose targets are missed.

Each path runs in this process, on a fresh benchmark database and the real servers: a command
(change a product's price: load, decide, append), a Postgres projection catching up from Kafka,
and the relay publishing the outbox. The report shows the top of each profile.

    python -m bench.profiles [--quick]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench import common

LINES = 45  # of each profile, in the report


def profiled(work: Callable[[], int]) -> tuple[float, str]:
    """(operations per second, the profile as text) of one run of `work`."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    done = work()
    profiler.stop()
    rate = done / (time.perf_counter() - started)
    text = profiler.output_text(unicode=False, color=False, show_all=False, short_mode=True)
    return rate, "\n".join(text.splitlines()[:LINES])


def commands(n: int) -> int:
    from apps.products import commands as shop
    from apps.shared.bus import dispatch

    products = [
        dispatch(
            shop.CreateProduct(
                sku=f"PROF-{uuid.uuid4().hex[:8]}",
                name="Profiled product",
                description="",
                price=Decimal("50.00"),
                currency="EUR",
            )
        ).stream_id
        for _ in range(10)
    ]
    for i in range(n):
        price = Decimal(f"{10 + i % 80}.{i % 100:02d}")
        dispatch(shop.ChangePrice(product_id=products[i % 10], price=price, currency="EUR"))
    return n


def projection_catch_up(n: int) -> Callable[[], int]:
    from bench.projections_bench import PG, lag, publish, reset

    publish(n)
    reset(PG)

    def work() -> int:
        from projections import registry
        from projections.status import partitions
        from projections.tasks import catch_up_partition

        while lag(PG) > 0:
            for topic in registry.topics_of(registry.get(PG)):
                for partition in partitions(topic):
                    catch_up_partition(PG, topic, partition)
        return n

    return work


def relay(n: int) -> Callable[[], int]:
    from bench.common import relay_once
    from bench.eventstore_bench import fill_outbox

    relay_once()
    fill_outbox(n)

    def work() -> int:
        relay_once()
        return n

    return work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes")
    parser.add_argument("--runs", type=int, default=1, help="ignored: one profiled run each")
    args = parser.parse_args()
    size = 0.2 if args.quick else 1.0
    common.configure_env("bench.settings")
    common.setup()
    rates: dict[str, list[float]] = {}
    texts: dict[str, str] = {}
    paths: dict[str, Callable[[], int]] = {
        "command: change price (in-process)": lambda: commands(int(1000 * size)),
        "projection catch-up, Postgres (in-process)": projection_catch_up(int(50_000 * size)),
        "relay (in-process)": relay(int(50_000 * size)),
    }
    try:
        for name, work in paths.items():
            print(f"profiling {name} ...", flush=True)
            rate, text = profiled(work)
            rates[name] = [rate]
            texts[name] = text
            print(f"  {rate:,.0f}/s under the profiler")
    finally:
        common.teardown()
    extra: dict[str, Any] = {"profiles": texts, "quick": args.quick}
    common.report("profiles", common.summarize(rates), {}, "operations/s (profiled)", extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
