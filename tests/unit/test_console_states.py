"""The console's verdict on a consumer from its samples (projections/console.py): state, rate and
ETA, without servers."""

from __future__ import annotations

import time

from projections import console
from projections.console import READ_MODEL, Consumer, Sample


def judged(
    lag: int,
    position: int,
    history: list[tuple[float, int, int]],
    *,
    followed: bool = False,
    rebuilding: bool = False,
) -> Consumer:
    """A read model now at (lag, position), sampled `ago` seconds back at (lag, position)."""
    now = time.time()
    consumer = Consumer(
        "r", READ_MODEL, lag, position, 0, "", followed=followed, rebuilding=rebuilding
    )
    consumer.samples = [Sample(now - ago, behind, at) for ago, behind, at in history]
    console._measure(consumer)
    return consumer


def test_caught_up_is_following_whatever_the_history() -> None:
    assert judged(0, 100, [(30, 50, 10)]).state == console.FOLLOWING


def test_behind_with_nothing_applied_for_ten_seconds_is_stalled() -> None:
    stuck = judged(40, 100, [(12, 20, 100), (6, 30, 100), (1, 40, 100)])
    assert stuck.state == console.STALLED and stuck.eta_seconds is None
    assert stuck.rate == 0.0


def test_a_move_within_the_last_ten_seconds_is_catching_up_with_rate_and_eta() -> None:
    moving = judged(40, 300, [(20, 240, 100), (12, 140, 200), (6, 90, 250)])
    assert moving.state == console.CATCHING_UP
    assert moving.rate is not None and 9 < moving.rate < 11  # 200 events in 20 s
    assert moving.eta_seconds is not None and 3 < moving.eta_seconds < 5  # lag falls 10/s


def test_too_little_history_to_judge_is_catching_up() -> None:
    assert judged(40, 100, [(3, 40, 100)]).state == console.CATCHING_UP


def test_a_rising_lag_has_no_eta() -> None:
    assert judged(90, 300, [(10, 10, 200)]).eta_seconds is None


def test_parked_and_rebuilding_come_first() -> None:
    parked = judged(5, 100, [])
    parked.dead_letters = 1
    console._measure(parked)
    assert parked.state == console.PARKED
    assert judged(5, 100, [], rebuilding=True).state == console.REBUILDING


def test_a_small_lag_the_follower_owns_is_following() -> None:
    assert judged(30, 100, [(20, 30, 100)], followed=True).state == console.FOLLOWING
