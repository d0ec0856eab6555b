"""`make mutate`: mutation testing of the code that holds the guarantees, bounded in time.

Python: cosmic-ray's mutants of the functions listed in targets.toml, written in place one at a
time, each running the tests listed beside them against the real servers (a mutant is killed
when they fail, or run past twice their time on the unmutated code plus 10 s: see baseline()).
SQL and Lua, which it does not mutate, come from the hand-written before/after snippets of the
same file, applied one at a time. Prints every surviving mutant; stops starting new ones after
MUTATE_BUDGET seconds (default 1680) and says what it did not run.

    python tests/mutation/run.py [--only NAME] [--list] [--verbose]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COSMIC_RAY = str(Path(sys.executable).with_name("cosmic-ray"))
TARGETS = Path(__file__).with_name("targets.toml")
PYTEST = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
# Operators that only make noise here (arithmetic families mostly turn into type errors): the
# rest (comparisons, booleans, constants, removed statements, exceptions, loops) are run.
# Constants (timeouts, delays, limits) only change how long things take; `is` against numbers
# is `==` for the small ones. (Their survivors of a first full run are in the README.)
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_(?!Add_Sub|Sub_Add).*",
    r"core/ReplaceUnaryOperator_.*",
    r"core/ReplaceComparisonOperator_(Is|IsNot|In|NotIn)_.*",
    r"core/ReplaceComparisonOperator_\w+_(Is|IsNot)$",
    r"core/NumberReplacer",
]
# Mutants outside the migrations leave the schema alone: their runs share one test database,
# vhost and set of topics (kept between runs, removed at the end), which saves most of a run's
# set-up.
VERBOSE = False
SHARED_RUN = {
    "TEST_RUN_ID": f"mut{os.getpid()}",
    "KEEP_TEST_SERVERS_STATE": "1",
    "PYTEST_ADDOPTS": "--reuse-db",
}


@dataclass
class Outcome:
    name: str
    survived: list[str] = field(default_factory=list)
    killed: int = 0
    timed_out: int = 0  # (of the killed)
    not_run: int = 0

    def count(self, result: str, mutant: str, seconds: float) -> None:
        if VERBOSE:
            print(f"   {seconds:5.1f} s {result:9} {mutant}", flush=True)
        if result == "passed":
            self.survived.append(mutant)
        else:
            self.killed += 1
            self.timed_out += result == "timed out"


def run_tests(tests: list[str], timeout: float, *, shared: bool = True) -> str:
    """ "passed", "failed" or "timed out". No bytecode is written: a mutant's, cached, could
    outlive it when the original comes back within the same second. `shared`: in the run
    state kept between runs (not for a mutated migration: it must be migrated again)."""
    try:
        done = subprocess.run(
            [*PYTEST, *tests],
            cwd=ROOT,
            env={**os.environ, **(SHARED_RUN if shared else {}), "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    return "passed" if done.returncode == 0 else "failed"


def baseline(name: str, tests: list[str], *, shared: bool = True) -> float | None:
    """The tests' time on the code as it is (None, said, when they fail there: every mutant
    would look killed). A mutant's run may take MUTANT_TIME_FACTOR times that, plus 10 s,
    before it counts as killed: one that hangs costs little, and no test waits its whole
    time-out."""
    started = time.monotonic()
    if run_tests(tests, 600, shared=shared) != "passed":
        print(f"   {name}: its tests fail on the unmutated code; not run", flush=True)
        return None
    return time.monotonic() - started


def mutant_timeout(base: float) -> float:
    return base * float(os.environ.get("MUTANT_TIME_FACTOR", "2")) + 10


def snippets(target: dict[str, object], deadline: float) -> Outcome:
    """Hand-written mutations of SQL and Lua: `before` replaced by `after`, one at a time."""
    path = ROOT / str(target["file"])
    outcome = Outcome(str(target["name"]))
    original = path.read_text()
    mutations: list[dict[str, Any]] = target["mutations"]  # type: ignore[assignment]
    for mutation in mutations:
        if original.count(mutation["before"]) != 1:
            raise SystemExit(f"{target['name']}: {mutation['before']!r} must occur once in {path}")
    bases: dict[tuple[str, ...], float | None] = {}
    shared = "migrations" not in path.parts
    for mutation in mutations:
        before, after = mutation["before"], mutation["after"]
        tests = tuple(mutation.get("tests", target["tests"]))
        if time.monotonic() > deadline:
            outcome.not_run += 1
            continue
        if tests not in bases:
            bases[tests] = baseline(outcome.name, list(tests), shared=shared)
        base = bases[tests]
        if base is None:
            outcome.not_run += 1
            continue
        path.write_text(original.replace(before, after))
        try:
            started = time.monotonic()
            result = run_tests(list(tests), mutant_timeout(base), shared=shared)
        finally:
            path.write_text(original)
        seconds = time.monotonic() - started
        outcome.count(result, f"{mutation['why']}: {before!r} -> {after!r}", seconds)
    return outcome


def function_lines(path: Path, names: list[str]) -> list[tuple[int, int]]:
    tree = ast.parse(path.read_text())
    spans = [
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names
    ]
    missing = set(names) - {
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    if missing:
        raise SystemExit(f"{path}: no function {', '.join(sorted(missing))}")
    return spans


def python(target: dict[str, object], deadline: float, workdir: Path) -> Outcome:
    """cosmic-ray's mutants of the target's functions, one at a time, each with its tests."""
    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_db import WorkDB, use_db

    name = str(target["name"])
    module = ROOT / str(target["module"])
    outcome = Outcome(name)
    tests = [str(t) for t in target["tests"]]  # type: ignore[attr-defined]
    config = workdir / f"{name}.toml"
    session = workdir / f"{name}.sqlite"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(str(module))}\n"
        "timeout = 600.0\n"
        "excluded-modules = []\n"
        "test-command = 'false'\n"  # (unused: the mutants are run below)
        "[cosmic-ray.distributor]\nname = 'local'\n"
    )
    subprocess.run(
        [COSMIC_RAY, "init", str(config), str(session)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spans = function_lines(module, list(target["functions"]))  # type: ignore[call-overload]
    excluded = re.compile("|".join(f"(?:{e})" for e in EXCLUDED_OPERATORS))
    with use_db(str(session), WorkDB.Mode.open) as db:
        mutations = [
            item.mutations[0]
            for item in db.pending_work_items
            if any(lo <= item.mutations[0].start_pos[0] <= hi for lo, hi in spans)
            and not excluded.match(item.mutations[0].operator_name)
        ]
    base = baseline(name, tests) if mutations and time.monotonic() < deadline else None
    try:
        for m in mutations:
            if base is None or time.monotonic() > deadline:
                outcome.not_run += 1
                continue
            operator = get_operator(m.operator_name)(**(getattr(m, "operator_args", None) or {}))
            with use_mutation(module, operator, m.occurrence) as (original, mutated):
                if mutated is None:
                    continue
                started = time.monotonic()
                result = run_tests(tests, mutant_timeout(base))
            mutant = f"line {m.start_pos[0]} {m.operator_name}: {_diff(original, mutated)}"
            outcome.count(result, mutant, time.monotonic() - started)
    finally:
        subprocess.run(["git", "checkout", "--", str(module)], cwd=ROOT, check=True)
    return outcome


def _diff(original: str, mutated: str) -> str:
    """The changed lines, as - and + lines."""
    import difflib

    return " ".join(
        line.strip()
        for line in difflib.unified_diff(original.splitlines(), mutated.splitlines(), n=0)
        if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
    )


def _remove_shared_run() -> None:
    """One last run without keeping anything: pytest-django drops the database, the session's
    fixture the topics, vhost and keys."""
    env = {k: v for k, v in {**os.environ, **SHARED_RUN}.items() if k != "KEEP_TEST_SERVERS_STATE"}
    env["PYTEST_ADDOPTS"] = "--create-db"
    subprocess.run(
        [*PYTEST, "tests/integration/projections/test_facts.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the target of this name")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--verbose", action="store_true", help="print every mutant's outcome")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    targets = tomllib.loads(TARGETS.read_text())
    chosen = [
        (kind, t)
        for kind in ("snippets", "python")
        for t in targets.get(kind, [])
        if args.only in (None, t["name"])
    ]
    if args.list or not chosen:
        for kind, t in chosen or [(k, t) for k in targets for t in targets[k]]:
            print(f"{kind:9} {t['name']}")
        return 0 if chosen or args.list else 2
    if not Path(COSMIC_RAY).exists() and any(kind == "python" for kind, _ in chosen):
        raise SystemExit("cosmic-ray is not installed: make mutate installs it")
    if subprocess.run(["git", "diff", "--quiet"], cwd=ROOT, check=False).returncode:
        raise SystemExit("the work tree has changes: mutants are written in place; commit first")
    started = time.monotonic()
    deadline = started + float(os.environ.get("MUTATE_BUDGET", "1680"))
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        for kind, target in chosen:
            print(f"-- {target['name']} ({kind})", flush=True)
            target_started = time.monotonic()
            if kind == "snippets":
                outcome = snippets(target, deadline)
            else:
                outcome = python(target, deadline, Path(tmp))
            outcomes.append(outcome)
            print(
                f"   killed {outcome.killed} ({outcome.timed_out} by time-out), "
                f"survived {len(outcome.survived)}, not run {outcome.not_run}, "
                f"{time.monotonic() - target_started:.0f} s",
                flush=True,
            )
            for line in outcome.survived:
                print(f"   SURVIVED {line}", flush=True)
        _remove_shared_run()
    killed = sum(o.killed for o in outcomes)
    survived = sum(len(o.survived) for o in outcomes)
    not_run = sum(o.not_run for o in outcomes)
    print(
        f"\n{killed} killed, {survived} survived, {not_run} not run (budget), "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
