"""Commands and reads over HTTP, beside what a team would build without CQRS.

The real endpoints (change a product's price: a command that appends an event; read a product
from the Redis cache; read a catalog page from the Postgres read model) against a plain Django
REST framework + ORM endpoint doing the same write or read with no events (bench/baseline).
Both are served by the same gunicorn (the Procfile's: 2 sync workers; `--server` names another
model) with the relay, a follower and a Celery worker running, as the Procfile runs them; wrk
drives each endpoint at a fixed number of connections. Each figure is the median
of several runs, with min and max; the headline is the ratio to the baseline. Peak memory (RSS)
of web, worker and relay processes is sampled while the load runs.

    python -m bench.http_bench [--quick] [--runs N] [--server "--workers 2 --threads 4"]
        [--only command,baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

from bench import common


def procfile_server() -> list[str]:
    """The web process's gunicorn options in the Procfile (workers, threads, worker class)."""
    line = next(
        x for x in (common.ROOT / "Procfile").read_text().splitlines() if x.startswith("web:")
    )
    words = line.split()
    wanted = ("--workers", "--threads", "--worker-class", "-w", "-k")
    return [w for i, w in enumerate(words) if w in wanted or (i and words[i - 1] in wanted)]


GUNICORN = procfile_server()

SCENARIOS = {
    # name: (method, path template, body template or None, connections)
    "command: change price": (
        "POST",
        "/api/v1/products/%s/price/",
        '{"price": "%s", "currency": "EUR"}',
        8,
    ),
    "baseline: update price": ("PATCH", "/bench/baseline/products/%s/", '{"price": "%s"}', 8),
    "command at moderate load": (
        "POST",
        "/api/v1/products/%s/price/",
        '{"price": "%s", "currency": "EUR"}',
        2,
    ),
    "baseline at moderate load": ("PATCH", "/bench/baseline/products/%s/", '{"price": "%s"}', 2),
    "read: product (Redis)": ("GET", "/api/v1/products/%s/", None, 8),
    "read: catalog page (Postgres)": (
        "GET",
        "/api/v1/products/?ordering=price&page_size=20&r=%s",
        None,
        8,
    ),
    "baseline: read product": ("GET", "/bench/baseline/products/%s/", None, 8),
    "baseline: list page": (
        "GET",
        "/bench/baseline/products/?ordering=price&page_size=20&r=%s",
        None,
        8,
    ),
}
RESULT = re.compile(r"^BENCH (\{.*\})$", re.MULTILINE)

LUA = """
local ids = {%(ids)s}
local method, path, body = "%(method)s", "%(path)s", %(body)s
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
function setup(thread) thread:set("seed", math.random(1, 1000000)) end
function init(args) math.randomseed(seed) end
function request()
  local id = ids[math.random(#ids)]
  local price = string.format("%%d.%%02d", math.random(10, 99), math.random(0, 99))
  local b = nil
  if body then b = string.format(body, price) end
  return wrk.format(method, string.format(path, id), nil, b)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "duration_us": %%d, "non_2xx": %%d, "socket_errors": %%d, ' ..
    '"p50_us": %%d, "p95_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_script(
    path: Path, template: str, ids: list[str], method: str, url: str, body: str | None, token: str
) -> Path:
    """wrk's Lua script for one scenario: the request, over the products, with the token."""
    path.write_text(
        template
        % {
            "ids": ", ".join(f'"{i}"' for i in ids),
            "method": method,
            "path": url,
            "body": f"'{body}'" if body else "nil",
            "token": token,
        }
    )
    return path


def seed(products: int) -> tuple[list[str], str]:
    """Products as events (and as baseline rows with the same ids), and a staff token."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from apps.accounts import commands as accounts
    from apps.products import commands as shop
    from apps.shared.bus import dispatch
    from bench.baseline.models import Product

    staff = dispatch(
        accounts.RegisterAccount(
            email="bench-staff@example.com",
            password="bench staff password",  # noqa: S106 - a throwaway benchmark account
        )
    ).stream_id
    dispatch(accounts.GrantRole(account_id=staff, role="staff"))
    ids = []
    for i in range(products):
        pid = dispatch(
            shop.CreateProduct(
                sku=f"BENCH-{i}",
                name=f"Bench product {i}",
                description="A product for the benchmark",
                price=Decimal("50.00"),
                currency="EUR",
            )
        ).stream_id
        dispatch(shop.ReceiveStock(product_id=pid, quantity=100))
        dispatch(shop.SetAvailability(product_id=pid, action="publish"))
        ids.append(pid)
    Product.objects.bulk_create(
        Product(
            id=pid,
            sku=f"BENCH-{i}",
            name=f"Bench product {i}",
            description="A product for the benchmark",
            price=Decimal("50.00"),
            currency="EUR",
            stock=100,
        )
        for i, pid in enumerate(ids)
    )
    from django.contrib.auth import get_user_model

    token = str(RefreshToken.for_user(get_user_model().objects.get(username=staff)).access_token)
    return ids, token


def wait_until_served(base: str, ids: list[str], timeout: float = 120) -> None:
    """Until the server answers and the read models hold every product."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/v1/products/{ids[-1]}/", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the web server or the read models did not come up; see bench/results/*.log")


def wait_for_quiet(timeout: float = 180) -> float:
    """Until the relay and every read model have caught up (the previous scenario's events are
    applied), so each scenario starts with the machine to itself. Returns the seconds waited."""
    from django.db import connection

    from projections.status import status

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with connection.cursor() as cur:
            cur.execute("SELECT es_outbox_pending()")
            pending = cur.fetchone()[0]
        if pending == 0 and sum(r.lag for r in status()) == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    print("  (the read models did not catch up in time; measuring anyway)")
    return time.monotonic() - started


def run_wrk(base: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(2, connections)),
            "-c",
            str(connections),
            "-d",
            f"{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    match = RESULT.search(out.stdout)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(match.group(1))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "failed": raw["non_2xx"] + raw["socket_errors"],
        "requests": raw["requests"],
    }


SERVERS = {"postgres": "postgres", "java": "kafka", "beam.smp": "rabbitmq", "redis-server": "redis"}


def cpu_by_role(roles: dict[str, int]) -> dict[tuple[str, int], float]:
    """CPU seconds used so far per (role, process): the project's processes (each with its
    children) and the servers on this machine by name (Postgres, Kafka, RabbitMQ, Redis)."""
    import psutil

    used: dict[tuple[str, int], float] = {}
    for role, pid in roles.items():
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                times = p.cpu_times()
            except psutil.Error:
                continue
            used[(role, p.pid)] = times.user + times.system
    for proc in psutil.process_iter(["name", "cpu_times"]):
        server = SERVERS.get(proc.info["name"] or "")
        if server and proc.info["cpu_times"] is not None:
            times = proc.info["cpu_times"]
            used[(server, proc.pid)] = times.user + times.system
    return used


def cpu_between(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    """CPU seconds per role between two readings, from the processes alive at the second (a
    process that ended in between, such as a closed Postgres connection, is left out)."""
    used: dict[str, float] = {}
    for (role, pid), seconds in after.items():
        used[role] = used.get(role, 0.0) + seconds - before.get((role, pid), 0.0)
    return used


class MemorySampler:
    """Peak RSS per role (the process and its children), sampled every 0.25 s."""

    def __init__(self, roles: dict[str, int]) -> None:
        self.roles = roles
        self.peak_mb: dict[str, float] = dict.fromkeys(roles, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for role, pid in self.roles.items():
                try:
                    proc = psutil.Process(pid)
                    procs = [proc, *proc.children(recursive=True)]
                    rss = sum(p.memory_info().rss for p in procs) / 2**20
                except psutil.Error:
                    continue
                self.peak_mb[role] = max(self.peak_mb[role], rss)
            self._stop.wait(0.25)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about a minute)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", help="gunicorn's worker options (default: the Procfile's)")
    parser.add_argument(
        "--only", help="scenarios whose name holds one of these words, e.g. command,baseline"
    )
    args = parser.parse_args()
    server = args.server.split() if args.server else GUNICORN
    scenarios = {
        name: scenario
        for name, scenario in SCENARIOS.items()
        if not args.only or any(word in name for word in args.only.split(","))
    }
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    os.environ["JWT_ACCESS_TTL"] = "7200"  # one token lasts the whole run
    common.configure_env("bench.http_settings")
    common.setup()
    seconds = 3.0 if args.quick else 10.0
    ids, token = seed(40 if args.quick else 200)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = common.spawn(
        "web",
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", *server],
    )
    worker = common.start_worker("worker", "default,projections,side_effects,notifications,orders")
    relay = common.start_relay()
    follower = common.start_follower()
    procs = [web, worker, relay, follower]
    roles = {"web": web.pid, "worker": worker.pid, "relay": relay.pid, "follower": follower.pid}
    samples: dict[str, dict[str, list[float]]] = {}
    cpu_ms: dict[str, dict[str, float]] = {}  # per scenario, CPU ms per request per role
    try:
        wait_until_served(base, ids)
        with (
            tempfile.TemporaryDirectory() as tmp,
            MemorySampler(roles) as memory,
        ):
            print(f"gunicorn {' '.join(server)}")
            for name, (method, path, body, connections) in scenarios.items():
                script = write_script(Path(tmp) / "script.lua", LUA, ids, method, path, body, token)
                drained = wait_for_quiet()
                run_wrk(base, script, connections, 1.0 if args.quick else 2.0)  # warm up
                wait_for_quiet()
                before = cpu_by_role(roles)
                served = 0.0
                for _ in range(args.runs):
                    result = run_wrk(base, script, connections, seconds)
                    served += result["requests"]
                    for key, value in result.items():
                        samples.setdefault(name, {}).setdefault(key, []).append(value)
                wait_for_quiet()  # what the requests left to the relay and the read models
                used = cpu_between(before, cpu_by_role(roles))
                cpu_ms[name] = {role: s / served * 1000 for role, s in used.items() if served}
                print(
                    f"  {name:<34}{statistics.median(samples[name]['rps']):>10.0f} req/s"
                    f"  (waited {drained:.1f} s for the read models first)"
                )
    finally:
        common.stop(procs)
        common.teardown()

    figures = {name: common.summarize(s) for name, s in samples.items()}

    def med(name: str, key: str = "rps") -> float | None:
        return figures.get(name, {}).get(key, {}).get("median")

    ratios = {
        "commands vs baseline writes": (
            common.ratio(med("command: change price"), med("baseline: update price")),
            "target >= 1.0",
        ),
        "command p99 / baseline p99": (
            common.ratio(
                med("command: change price", "p99_ms"), med("baseline: update price", "p99_ms")
            ),
            "8 connections; target <= 1.5",
        ),
        "command p50 / baseline p50, 2 connections": (
            common.ratio(
                med("command at moderate load", "p50_ms"),
                med("baseline at moderate load", "p50_ms"),
            ),
            "target <= 2.0",
        ),
        "Redis reads vs baseline reads": (
            common.ratio(med("read: product (Redis)"), med("baseline: read product")),
            "target >= 1.0",
        ),
        "catalog page vs baseline list page": (
            common.ratio(med("read: catalog page (Postgres)"), med("baseline: list page")),
            "the same 20 rows; target >= 1.0",
        ),
    }
    print(f"\n{'scenario':<34}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'failed':>8}")
    for name in figures:
        print(
            f"{name:<34}{med(name) or 0:>9.0f}{med(name, 'p50_ms') or 0:>9.1f}"
            f"{med(name, 'p95_ms') or 0:>9.1f}{med(name, 'p99_ms') or 0:>9.1f}"
            f"{med(name, 'failed') or 0:>8.0f}"
        )
    roles_seen = sorted({role for used in cpu_ms.values() for role in used})
    print(f"\nCPU ms per request, until the read models caught up\n{'scenario':<34}", end="")
    print("".join(f"{role:>9}" for role in [*roles_seen, "total"]))
    for name, used in cpu_ms.items():
        print(f"{name:<34}", end="")
        print("".join(f"{used.get(role, 0):>9.2f}" for role in roles_seen), end="")
        print(f"{sum(used.values()):>9.2f}")
    print("\npeak RSS (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in memory.peak_mb.items()))
    common.report(
        "http",
        {f"{name} req/s": f["rps"] for name, f in figures.items()},
        ratios,
        "requests/s",
        {
            "latency_ms": {
                name: {q: f[f"{q}_ms"] for q in ("p50", "p95", "p99")}
                for name, f in figures.items()
            },
            "failed": {name: f["failed"]["median"] for name, f in figures.items()},
            "memory_peak_mb": memory.peak_mb,
            "cpu_ms_per_request": cpu_ms,
            "server": " ".join(server),
            "seconds_per_run": seconds,
            "quick": args.quick,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
