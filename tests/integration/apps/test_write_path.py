"""The write path a reader follows: a price change, from the view to the append, crosses at
most 16 of the project's files (15 until the request's authentication became the project's own,
apps/accounts/auth.py) and comes back to a file already left at most 8 times (the
architecture's promise, docs/architecture.md). Measured by tracing the calls of a real request
in the web process; printed, so a change that lengthens the path shows where.

Observability is left out of the count: the log context, the trace context and the request's
span, the log line's formatter and the metrics middleware sit beside every path (a reader
follows the business path, not the log line)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.support.accounts import person
from tests.support.shop import a_product

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("apps", "eventstore", "projections", "config")
MAX_FILES = 16
MAX_RETURNS = 8
CROSS_CUTTING = {
    "eventstore/logcontext.py",
    "eventstore/tracing.py",
    "config/tracing.py",  # the request's span (a no-op while tracing is off)
    "config/logs.py",
    "config/metrics.py",
    "eventstore/metrics.py",
}


def in_project(frame: FrameType) -> str | None:
    path = Path(frame.f_code.co_filename)
    if path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in PACKAGES:
        name = str(path.relative_to(ROOT))
        return None if name in CROSS_CUTTING else name
    return None


def nearest(frame: FrameType | None) -> str | None:
    """The project file of the nearest project frame at or above `frame`."""
    while frame is not None:
        if (found := in_project(frame)) is not None:
            return found
        frame = frame.f_back
    return None


def trace(request: Callable[[], Any]) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The project files a request enters, in order, and each move from one of them into
    another (caller's file, callee's file, the first function called there), once per pair of
    files: a reader follows a move once, however many functions of the other file it calls."""
    files: list[str] = []
    moves: list[tuple[str, str, str]] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        callee = in_project(frame)
        if callee is None:
            return
        caller = nearest(frame.f_back)
        if caller == callee:
            return
        if not any(m[:2] == (caller or "(django)", callee) for m in moves):
            moves.append((caller or "(django)", callee, frame.f_code.co_qualname))
        if callee not in files:
            files.append(callee)

    sys.setprofile(profile)
    try:
        request()
    finally:
        sys.setprofile(None)
    return files, moves


def returns(moves: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The moves into a file entered before (a reader goes back to a file already left)."""
    entered: set[str] = set()
    back = []
    for move in moves:
        if move[1] in entered:
            back.append(move)
        entered.add(move[1])
    return back


def test_a_price_change_crosses_few_files_and_seldom_goes_back() -> None:
    staff = person("staff").client()
    product = a_product()

    def change(price: str) -> Any:
        response = staff.post(
            f"/api/v1/products/{product}/price/",
            {"price": price, "currency": "EUR"},
            format="json",
        )
        assert response.status_code == 200, response.content
        return response

    change("11.00")  # warm: imports, prepared statements, caches
    files, moves = trace(lambda: change("12.00"))
    back = returns(moves)
    print(f"\nthe write path of a price change: {len(files)} files, {len(back)} returns")
    for i, name in enumerate(files, 1):
        print(f"  {i:2} {name}")
    for caller, callee, function in back:
        print(f"  back to {callee} ({function}) from {caller}")
    assert len(files) <= MAX_FILES
    assert len(back) <= MAX_RETURNS
