"""Where a write's time goes, hop by hop: a price change through the command path beside the
same change through the plain DRF + ORM baseline, in one process, each request through the
whole Django stack (Django's test client: middleware, routing, DRF, the view), one at a time.

Each hop is the time spent in the functions named below, less the hops inside it (a stack of
timers, so nothing is counted twice); "Django and DRF" is the rest of the request: middleware,
URL routing, the request and response objects, content negotiation, rendering. The HTTP
server's own parsing (gunicorn) is not in any of it: it is the same for both, and outside
Django. The timers add about 1 us per hop.

    python -m bench.hops [--requests N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from bench import common

FRAMEWORK = "Django and DRF (middleware, routing, negotiation, rendering)"
# The order hops are printed in: a command's and the baseline's hop of the same role side by side.
HOPS = [
    "authenticate (JWT)",
    "permissions",
    "input (JSON body, serializer)",
    "load (command: snapshot + tail; baseline: ORM get)",
    "decide (the aggregate's rule)",
    "bus (span, log line, metrics, idempotency, retries)",
    "append (command: es_append; baseline: ORM save)",
    "respond (body, ETag, token)",
    "view (glue)",
    FRAMEWORK,
]


class Hops:
    """Exclusive time per hop: a hop's time less that of the hops called inside it."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []  # per open hop, the time spent in hops inside it

    @contextmanager
    def hop(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            inner = self._inner.pop()
            elapsed = time.perf_counter() - started
            self.totals[label] += elapsed - inner
            if self._inner:
                self._inner[-1] += elapsed

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = owner.__dict__[name]
        if isinstance(original, property):
            getter = original.fget
            assert getter is not None

            def get(obj: Any) -> Any:
                with self.hop(label):
                    return getter(obj)

            setattr(owner, name, property(get, original.fset))
            return
        if isinstance(original, staticmethod):
            raise TypeError(f"{owner.__name__}.{name}: a static method")

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.hop(label):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def wrap_function(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.hop(label):
                return fn(*args, **kwargs)

        return timed


def instrument(hops: Hops) -> None:
    """Put the timers on both paths' functions (this process only)."""
    from rest_framework import generics, mixins, serializers
    from rest_framework.views import APIView
    from rest_framework_simplejwt.authentication import JWTAuthentication

    from apps.products import commands as shop
    from apps.products.api import views as product_views
    from apps.shared import bus
    from eventstore.repository import Repository

    hops.wrap(JWTAuthentication, "authenticate", HOPS[0])
    hops.wrap(APIView, "check_permissions", HOPS[1])
    hops.wrap(APIView, "check_object_permissions", HOPS[1])
    # The command path.
    for name, label in (("strict", HOPS[2]), ("command_response", HOPS[7])):
        setattr(product_views, name, hops.wrap_function(getattr(product_views, name), label))
    hops.wrap(Repository, "load", HOPS[3])
    installed = bus.current()
    changes = installed.handlers[shop.ChangePrice]
    assert isinstance(changes, bus.Changes)
    installed.handlers[shop.ChangePrice] = bus.Changes(
        changes.aggregate, hops.wrap_function(changes.handler, HOPS[4]), changes.start
    )
    hops.wrap(bus.Bus, "dispatch", HOPS[5])
    hops.wrap(Repository, "save", HOPS[6])
    hops.wrap(product_views.PriceChangeApi, "post", HOPS[8])
    # The baseline.
    hops.wrap(serializers.BaseSerializer, "is_valid", HOPS[2])
    hops.wrap(generics.GenericAPIView, "get_object", HOPS[3])
    hops.wrap(mixins.UpdateModelMixin, "perform_update", HOPS[6])
    hops.wrap(serializers.Serializer, "data", HOPS[7])
    hops.wrap(mixins.UpdateModelMixin, "update", HOPS[8])


def measure(requests: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per path, per hop, the microseconds per request of each round."""
    from django.test import Client

    ids, token = seed_products()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    hops = Hops()
    instrument(hops)
    paths: dict[str, Callable[[str, str], Any]] = {
        "command": lambda pid, price: client.post(
            f"/api/v1/products/{pid}/price/",
            {"price": price, "currency": "EUR"},
            content_type="application/json",
        ),
        "baseline": lambda pid, price: client.patch(
            f"/bench/baseline/products/{pid}/", {"price": price}, content_type="application/json"
        ),
    }
    results: dict[str, dict[str, list[float]]] = {p: defaultdict(list) for p in paths}
    for call in paths.values():  # warm up: imports, caches, prepared statements
        for i in range(100):
            call(ids[i % len(ids)], str(Decimal(100 + i) / 100))
    for round_ in range(rounds):
        for path, call in list(paths.items())[:: 1 if round_ % 2 == 0 else -1]:
            hops.totals.clear()
            started = time.perf_counter()
            for i in range(requests):
                answer = call(
                    ids[i % len(ids)], str(Decimal(100 + (round_ * requests + i) % 5000) / 100)
                )
                assert answer.status_code == 200, answer.content[:300]
            total = time.perf_counter() - started
            inside = sum(hops.totals.values())
            hops.totals[FRAMEWORK] = total - inside
            for label in HOPS:
                results[path][label].append(hops.totals.get(label, 0.0) / requests * 1e6)
            results[path]["total"].append(total / requests * 1e6)
    return results


def seed_products() -> tuple[list[str], str]:
    from bench.http_bench import seed

    return seed(40)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 requests, 2 rounds")
    parser.add_argument(
        "--aggregate-cache",
        type=int,
        default=0,
        metavar="N",
        help="commands through the aggregate cache experiment (bench/aggregate_cache.py)",
    )
    parser.add_argument("--runs", type=int, default=1, help="ignored (bench.run passes it)")
    args = parser.parse_args()
    requests, rounds = (300, 2) if args.quick else (args.requests, args.rounds)
    import os

    os.environ["JWT_ACCESS_TTL"] = "7200"
    if args.aggregate_cache:
        os.environ["BENCH_AGGREGATE_CACHE"] = str(args.aggregate_cache)
    common.configure_env("bench.http_settings")
    common.setup()
    try:
        results = measure(requests, rounds)
    finally:
        common.teardown()
    median = {p: {h: statistics.median(v) for h, v in hops.items()} for p, hops in results.items()}
    width = max(len(h) for h in HOPS)
    print(f"\nOne price change, us per request (median of {rounds} rounds of {requests}):")
    print(f"{'hop':<{width}}  {'command':>9}  {'baseline':>9}  {'difference':>10}")
    for label in [*HOPS, "total"]:
        cmd, base = median["command"][label], median["baseline"][label]
        print(f"{label:<{width}}  {cmd:>9.0f}  {base:>9.0f}  {cmd - base:>+10.0f}")
    ratio = median["baseline"]["total"] / median["command"]["total"]
    print(f"\ncommands a second in one thread: {ratio:.2f}x the baseline's")
    figures = {
        f"{path}: total": common.summarize({"": results[path]["total"]})[""] for path in median
    }
    common.report(
        "hops",
        figures,
        {"command vs baseline, one thread": (ratio, "requests a second, same process")},
        "us per request",
        {"requests": requests, "rounds": rounds, "hops": median},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
