"""What tracing costs an unsampled request, in one process: the CPU time of a price change
through the whole Django stack (Django's test client: middleware, authentication, the command,
the append), tracing off beside tracing on with every request unsampled (what 90% of requests
are at 10% sampling), in alternating child processes, the same products and token for both. The
HTTP benchmark (`make bench-tracing`) moves 10% between rounds; this moves about 1%, so the
fixed cost of being instrumented shows. `--profile` adds a pyinstrument profile of the traced
child.

    python -m bench.tracing_overhead [--requests N] [--pairs N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal

from bench import common
from bench.http_bench import seed

_ON = {
    "OTEL_TRACES_EXPORTER": "zipkin",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://127.0.0.1:9/api/v2/spans",  # never reached
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0",
}
MODES = {"off": {}, "on, unsampled": _ON}
# --breakdown: which instrumentation the cost is in (each left out in turn).
BREAKDOWN = {
    f"on, no {name}": {**_ON, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": name}
    for name in ("django", "psycopg,redis", "celery")
}


def child(requests: int, profile: bool) -> None:
    """Run in a child: N price changes through the test client; print CPU us per request."""
    import django

    django.setup()
    from django.test import Client

    ids = json.loads(os.environ["BENCH_IDS"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {os.environ['BENCH_TOKEN']}", HTTP_HOST="127.0.0.1")

    def run(n: int, offset: int) -> None:
        for i in range(n):
            price = Decimal(100 + (offset + i) % 5000) / 100
            answer = client.post(
                f"/api/v1/products/{ids[i % len(ids)]}/price/",
                {"price": str(price), "currency": "EUR"},
                content_type="application/json",
            )
            assert answer.status_code in (200, 202), answer.content[:300]

    run(50, 0)  # warm up
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    started = time.process_time()
    run(requests, int(time.time()))
    cpu = time.process_time() - started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
    print(json.dumps({"cpu_us_per_request": cpu / requests * 1e6}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="also each instrumentation off")
    parser.add_argument("--child", choices=[*MODES, *BREAKDOWN], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.profile)
        return 0
    os.environ["JWT_ACCESS_TTL"] = "7200"
    common.configure_env("bench.http_settings")
    common.setup()
    ids, token = seed(40)
    modes = {**MODES, **(BREAKDOWN if args.breakdown else {})}
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for pair in range(args.pairs):
            for mode in list(modes) if pair % 2 == 0 else list(modes)[::-1]:
                env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                env.update(modes[mode], BENCH_IDS=json.dumps(ids), BENCH_TOKEN=token)
                profile = args.profile and mode != "off" and pair == 0
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.tracing_overhead",
                        "--child",
                        mode,
                        "--requests",
                        str(args.requests),
                        *(["--profile"] if profile else []),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    cwd=common.ROOT,
                )
                if done.returncode != 0:
                    raise SystemExit(f"the {mode} child failed:\n{done.stderr[-3000:]}")
                if profile:
                    print(done.stderr[-6000:])
                value = json.loads(done.stdout.strip().splitlines()[-1])["cpu_us_per_request"]
                samples[mode].append(value)
                print(f"  pair {pair + 1} {mode:<16}{value:>8.0f} us of CPU per request")
    finally:
        common.teardown()
    print()
    for mode in [m for m in modes if m != "off"]:
        ratios = [on / off for on, off in zip(samples[mode], samples["off"], strict=True)]
        print(
            f"tracing {mode}: {statistics.median(ratios):.3f}x the CPU of off per request "
            f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)}); throughput at most "
            f"{1 / statistics.median(ratios):.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
