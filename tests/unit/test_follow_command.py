"""`manage.py follow_projections` comes back after a failure (a server away, a rebalance error)
rather than exiting, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command

from projections.management.commands import follow_projections


def test_a_failed_follower_starts_again_and_sigterm_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def follow(should_stop: Any) -> SimpleNamespace:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("postgres went away")
        os.kill(os.getpid(), signal.SIGTERM)  # as a process manager stops it
        assert should_stop()
        return SimpleNamespace(applied=7, handed_over=2)

    monkeypatch.setattr("projections.follower.follow", follow)
    monkeypatch.setattr(follow_projections, "RETRY", 0.01)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    out = StringIO()
    try:
        call_command("follow_projections", stdout=out)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert len(calls) == 2
    assert "after applying 7 events (handed 2 partitions back)" in out.getvalue()
