"""`make bench`: every benchmark scenario on the real local stack, one report.

Runs the event store, projection and HTTP benchmarks one after another (each on a fresh
database and its own topics), then writes bench/results/<timestamp>.json, a markdown summary
and PNG charts beside it.

    python -m bench.run [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

from bench.common import ROOT

SCENARIOS = {
    "eventstore": "bench.eventstore_bench",
    "projections": "bench.projections_bench",
    "http": "bench.http_bench",
    "hops": "bench.hops",
    "profiles": "bench.profiles",
}
WROTE = re.compile(r"^wrote (bench/results/\S+\.json)$", re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run of each (< 3 min)")
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), help="a subset")
    parser.add_argument(
        "--into", metavar="STAMP", help="add the scenarios run to an earlier report and redo it"
    )
    args = parser.parse_args()
    started = time.monotonic()
    stem = args.into or time.strftime("%Y%m%dT%H%M%S")
    run: dict[str, object] = {"started": stem, "quick": args.quick, "scenarios": {}}
    if args.into:
        run = json.loads((ROOT / "bench" / "results" / f"{stem}.json").read_text())
    extra = ["--quick", "--runs", "1"] if args.quick else []
    for name, module in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", module, *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        print(proc.stdout, end="")
        match = WROTE.search(proc.stdout)
        if proc.returncode != 0 or match is None:
            print(f"{name} failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        run["scenarios"][name] = json.loads((ROOT / match.group(1)).read_text())  # type: ignore[index]
    run["seconds"] = float(run.get("seconds", 0.0)) + time.monotonic() - started  # type: ignore[arg-type]
    from bench.report import write

    for path in write(run, ROOT / "bench" / "results", stem):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
