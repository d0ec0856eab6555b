"""`make mutate`: mutation testing of the code that holds the guarantees, bounded in time.

Python: cosmic-ray mutates the functions listed in targets.toml, one mutant at a time, in place,
and runs the tests listed beside them against the real servers (a mutant is killed when they
fail). SQL and Lua, which it does not mutate, come from the hand-written before/after snippets
of the same file, applied one at a time. Prints every surviving mutant; stops starting new ones
after MUTATE_BUDGET seconds (default 1680) and says what it did not run.

    python tests/mutation/run.py [--only NAME] [--list]
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
# Python mutants leave the migrations alone: their runs share one test database, vhost and set
# of topics (kept between runs, removed at the end), which saves most of a run's set-up.
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
    not_run: int = 0


def run_tests(tests: list[str], timeout: float) -> bool:
    """Whether the tests pass (False also when they time out). No bytecode is written: a
    mutant's, cached, could outlive it when the original comes back within the same second."""
    try:
        done = subprocess.run(
            [*PYTEST, *tests],
            cwd=ROOT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def snippets(target: dict[str, object], deadline: float) -> Outcome:
    """Hand-written mutations of SQL and Lua: `before` replaced by `after`, one at a time."""
    path = ROOT / str(target["file"])
    outcome = Outcome(str(target["name"]))
    original = path.read_text()
    for mutation in target["mutations"]:  # type: ignore[attr-defined]
        before, after = mutation["before"], mutation["after"]
        if original.count(before) != 1:
            raise SystemExit(f"{target['name']}: {before!r} must occur once in {path}")
        if time.monotonic() > deadline:
            outcome.not_run += 1
            continue
        path.write_text(original.replace(before, after))
        try:
            passed = run_tests(list(mutation.get("tests", target["tests"])), 600)
        finally:
            path.write_text(original)
        if passed:
            outcome.survived.append(f"{mutation['why']}: {before!r} -> {after!r}")
        else:
            outcome.killed += 1
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
    """cosmic-ray over the target's functions, its tests as the test command."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    name = str(target["name"])
    module = ROOT / str(target["module"])
    outcome = Outcome(name)
    config = workdir / f"{name}.toml"
    session = workdir / f"{name}.sqlite"
    tests = " ".join(str(t) for t in target["tests"])  # type: ignore[attr-defined]
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(str(module))}\n"
        "timeout = 600.0\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(' '.join([*PYTEST, tests]))}\n"
        "[cosmic-ray.distributor]\nname = 'local'\n"
    )
    subprocess.run([COSMIC_RAY, "init", str(config), str(session)], cwd=ROOT, check=True)
    spans = function_lines(module, list(target["functions"]))  # type: ignore[call-overload]
    excluded = re.compile("|".join(f"(?:{e})" for e in EXCLUDED_OPERATORS))
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            mutation = item.mutations[0]
            line = mutation.start_pos[0]
            inside = any(lo <= line <= hi for lo, hi in spans)
            if not inside or excluded.match(mutation.operator_name):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    remaining = max(0.0, deadline - time.monotonic())
    try:
        subprocess.run(
            [COSMIC_RAY, "exec", str(config), str(session)],
            cwd=ROOT,
            env={**os.environ, **SHARED_RUN},
            timeout=remaining,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pass  # the budget is spent; the mutant in flight is undone below
    finally:
        subprocess.run(["git", "checkout", "--", str(module)], cwd=ROOT, check=True)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            if result.test_outcome == TestOutcome.SURVIVED:
                m = item.mutations[0]
                diff = "".join(
                    line
                    for line in (result.diff or "").splitlines(keepends=True)
                    if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
                ).strip()
                outcome.survived.append(f"line {m.start_pos[0]} {m.operator_name}: {diff}")
            else:
                outcome.killed += 1
        outcome.not_run = sum(1 for _ in db.pending_work_items)
    return outcome


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
    args = parser.parse_args()
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
            if kind == "snippets":
                outcome = snippets(target, deadline)
            else:
                outcome = python(target, deadline, Path(tmp))
            outcomes.append(outcome)
            print(
                f"   killed {outcome.killed}, survived {len(outcome.survived)}, "
                f"not run {outcome.not_run}",
                flush=True,
            )
            for line in outcome.survived:
                print(f"   SURVIVED {line}", flush=True)
        if any(kind == "python" for kind, _ in chosen):
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
