"""`make mutate`: mutation testing of the code that holds the guarantees, bounded in time.

Python: cosmic-ray's mutants of the functions listed in targets.toml; SQL and Lua, which it does
not mutate, come from the hand-written before/after snippets of the same file. Each mutant is
written into a git worktree of HEAD (the checkout itself is never touched) and runs the tests
listed beside it against the real servers: it is killed when they fail, or when they run past
twice their time on the unmutated code plus 10 s (see baseline()). MUTATE_JOBS worktrees
(default 2) run mutants side by side, each with its own test database, vhost and topics. Prints
every surviving mutant; stops starting new ones after MUTATE_BUDGET seconds (default 1680) and
says what it did not run.

    python tests/mutation/run.py [--only NAME] [--list] [--verbose]
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
VERBOSE = False
# A mutant's test that runs longer than this fails (pytest-timeout), so a mutant that hangs one
# test (a loop that never ends, a wait for what never comes) is killed in that time, not the
# whole run's. The slowest test listed takes about 15 s.
PER_TEST = float(os.environ.get("MUTANT_TEST_TIMEOUT", "30"))


@dataclass
class Worker:
    """A worktree of HEAD and the environment its test runs get. Mutants outside the migrations
    leave the schema alone: their runs share one test database, vhost and set of topics (kept
    between runs, removed at the end), which saves most of a run's set-up."""

    root: Path
    run_id: str

    def env(self, *, shared: bool) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(self.root),  # its modules, not the checkout's (installed editable)
            "STACK_DIR": os.environ.get("STACK_DIR", str(ROOT / ".stack")),
            "PYTHONDONTWRITEBYTECODE": "1",  # a mutant's bytecode could outlive it
        }
        if shared:
            env |= {
                "TEST_RUN_ID": self.run_id,
                "KEEP_TEST_SERVERS_STATE": "1",
                "PYTEST_ADDOPTS": "--reuse-db",
            }
        return env

    def run_tests(
        self, tests: list[str], timeout: float, *, shared: bool = True, per_test: float = 0
    ) -> str:
        """The outcome: passed, failed or timed out (the run, or with `per_test` one test)."""
        one = [f"--timeout={per_test:.0f}"] if per_test else []
        try:
            done = subprocess.run(
                [*PYTEST, *one, *tests],
                cwd=self.root,
                env=self.env(shared=shared),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return "timed out"
        return "passed" if done.returncode == 0 else "failed"

    def remove_shared_state(self) -> None:
        """One last run that keeps nothing: pytest-django drops the database, the session's
        fixture the topics, vhost and keys."""
        env = {k: v for k, v in self.env(shared=True).items() if k != "KEEP_TEST_SERVERS_STATE"}
        env["PYTEST_ADDOPTS"] = "--create-db"
        subprocess.run(
            [*PYTEST, "tests/integration/projections/test_facts.py"],
            cwd=self.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )


@contextmanager
def workers(count: int, tmp: Path) -> Iterator[list[Worker]]:
    made: list[Worker] = []
    try:
        for i in range(count):
            root = tmp / f"w{i}"
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(root), "HEAD"],
                cwd=ROOT,
                check=True,
            )
            made.append(Worker(root, f"mut{os.getpid()}w{i}"))
        yield made
    finally:
        for w in made:
            subprocess.run(["git", "worktree", "remove", "--force", str(w.root)], cwd=ROOT)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=False)


@dataclass
class Mutant:
    file: str  # relative to the root
    text: str  # the whole mutated file
    tests: tuple[str, ...]
    shared: bool
    label: str


@dataclass
class Outcome:
    name: str
    survived: list[str] = field(default_factory=list)
    killed: int = 0
    timed_out: int = 0  # (of the killed)
    not_run: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, result: str, mutant: str, seconds: float) -> None:
        with self.lock:
            if VERBOSE and result != "not run":
                print(f"   {seconds:5.1f} s {result:9} {mutant}", flush=True)
            if result == "passed":
                self.survived.append(mutant)
            elif result == "not run":
                self.not_run += 1
            else:
                self.killed += 1
                self.timed_out += result == "timed out"


def snippet_mutants(target: dict[str, Any], root: Path) -> list[Mutant]:
    """Hand-written mutations of SQL and Lua: `before` replaced by `after`."""
    path = root / str(target["file"])
    original = path.read_text()
    shared = "migrations" not in path.parts  # a mutated migration must be migrated again
    mutants = []
    for mutation in target["mutations"]:
        before, after = mutation["before"], mutation["after"]
        if original.count(before) != 1:
            raise SystemExit(f"{target['name']}: {before!r} must occur once in {path}")
        mutants.append(
            Mutant(
                str(target["file"]),
                original.replace(before, after),
                tuple(mutation.get("tests", target["tests"])),
                shared,
                f"{mutation['why']}: {before!r} -> {after!r}",
            )
        )
    return mutants


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


def python_mutants(target: dict[str, Any], workdir: Path, root: Path) -> list[Mutant]:
    """cosmic-ray's mutants of the target's functions, less the excluded operators and the
    survivors already judged equivalent or harmless (`known` in targets.toml)."""
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_db import WorkDB, use_db

    name = str(target["name"])
    path = root / str(target["module"])
    original = path.read_text()
    config = workdir / f"{name}.toml"
    session = workdir / f"{name}.sqlite"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(str(path))}\n"
        "timeout = 600.0\n"
        "excluded-modules = []\n"
        "test-command = 'false'\n"  # (unused: the mutants are run here)
        "[cosmic-ray.distributor]\nname = 'local'\n"
    )
    subprocess.run(
        [COSMIC_RAY, "init", str(config), str(session)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spans = function_lines(path, list(target["functions"]))
    excluded = re.compile("|".join(f"(?:{e})" for e in EXCLUDED_OPERATORS))
    lines = original.splitlines()
    known: list[dict[str, str]] = target.get("known", [])
    for k in known:
        if not any(k["line"] in lines[i - 1] for lo, hi in spans for i in range(lo, hi + 1)):
            raise SystemExit(f"{name}: known survivor line {k['line']!r} is not in its functions")
    mutants = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            m = item.mutations[0]
            line = m.start_pos[0]
            if not any(lo <= line <= hi for lo, hi in spans) or excluded.match(m.operator_name):
                continue
            if any(
                k["line"] in lines[line - 1] and re.search(k["operators"], m.operator_name)
                for k in known
            ):
                continue  # a survivor judged equivalent or harmless (the README lists it)
            operator = get_operator(m.operator_name)(**(getattr(m, "operator_args", None) or {}))
            text = mutate_code(original, operator, m.occurrence)
            if text is None:
                continue
            mutants.append(
                Mutant(
                    str(target["module"]),
                    text,
                    tuple(target["tests"]),
                    True,
                    f"line {line} {m.operator_name}: {_diff(original, text)}",
                )
            )
    return mutants


def _diff(original: str, mutated: str) -> str:
    """The changed lines, as - and + lines."""
    return " ".join(
        line.strip()
        for line in difflib.unified_diff(original.splitlines(), mutated.splitlines(), n=0)
        if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
    )


def baseline(pool: list[Worker], tests: tuple[str, ...], shared: bool) -> float | None:
    """The tests' time on the code as it is, run in every worktree at once (as loaded as the
    mutants' runs will be); None when they fail there: every mutant would look killed. A
    mutant's run may take MUTANT_TIME_FACTOR (default 2) times that, plus 10 s, before it
    counts as killed: one that hangs costs little, and no test waits out its own time-out."""

    def timed(worker: Worker) -> float | None:
        started = time.monotonic()
        if worker.run_tests(list(tests), 600, shared=shared) != "passed":
            return None
        return time.monotonic() - started

    with ThreadPoolExecutor(len(pool)) as ex:
        times = list(ex.map(timed, pool))
    if any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)


def run_target(name: str, mutants: list[Mutant], pool: list[Worker], deadline: float) -> Outcome:
    outcome = Outcome(name)
    limits: dict[tuple[tuple[str, ...], bool], float | None] = {}
    for key in {(m.tests, m.shared) for m in mutants}:
        if time.monotonic() < deadline:
            base = baseline(pool, *key)
            if base is None:
                print(f"   the tests {list(key[0])} fail on the unmutated code", flush=True)
            factor = float(os.environ.get("MUTANT_TIME_FACTOR", "2"))
            limits[key] = None if base is None else base * factor + 10
    free: list[Worker] = list(pool)

    def run(mutant: Mutant) -> None:
        limit = limits.get((mutant.tests, mutant.shared))
        if limit is None or time.monotonic() > deadline:
            outcome.count("not run", mutant.label, 0)
            return
        worker = free.pop()
        path = worker.root / mutant.file
        original = path.read_text()
        try:
            path.write_text(mutant.text)
            started = time.monotonic()
            result = worker.run_tests(
                list(mutant.tests), limit, shared=mutant.shared, per_test=PER_TEST
            )
            outcome.count(result, mutant.label, time.monotonic() - started)
        finally:
            path.write_text(original)
            free.append(worker)

    with ThreadPoolExecutor(len(pool)) as ex:
        list(ex.map(run, mutants))
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the target of this name")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--verbose", action="store_true", help="print every mutant's outcome")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    # A TERM (a CI time-out, kill) unwinds like Ctrl-C: the worktrees and run state go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
    if subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, check=False).returncode:
        print("(the work tree's changes are not in this run: the mutants are made from HEAD)")
    started = time.monotonic()
    deadline = started + float(os.environ.get("MUTATE_BUDGET", "1680"))
    outcomes = []
    with (
        tempfile.TemporaryDirectory(prefix="mutate-") as tmp,
        workers(int(os.environ.get("MUTATE_JOBS", "2")), Path(tmp)) as pool,
    ):
        try:
            for kind, target in chosen:
                print(f"-- {target['name']} ({kind})", flush=True)
                target_started = time.monotonic()
                mutants = (
                    snippet_mutants(target, pool[0].root)
                    if kind == "snippets"
                    else python_mutants(target, Path(tmp), pool[0].root)
                )
                outcome = run_target(str(target["name"]), mutants, pool, deadline)
                outcomes.append(outcome)
                print(
                    f"   killed {outcome.killed} ({outcome.timed_out} by time-out), "
                    f"survived {len(outcome.survived)}, not run {outcome.not_run}, "
                    f"{time.monotonic() - target_started:.0f} s",
                    flush=True,
                )
                for line in outcome.survived:
                    print(f"   SURVIVED {line}", flush=True)
        finally:
            with ThreadPoolExecutor(len(pool)) as ex:
                list(ex.map(Worker.remove_shared_state, pool))
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
