"""The relay's on_published hook runs apart from publishing, coalesced per partition."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from eventstore.relay import Published
from eventstore.relay.notifier import Notifier as _Notifier


def test_a_slow_hook_gets_the_latest_event_per_partition_and_misses_none() -> None:
    release, started = threading.Event(), threading.Event()
    calls: list[list[Published]] = []

    def hook(batch: Sequence[Published]) -> None:
        calls.append(list(batch))
        started.set()
        release.wait(5)

    notifier = _Notifier(hook)
    notifier.start()
    notifier.submit([Published(1, "t", 0, 10)])
    assert started.wait(5)
    # While the hook is busy with the first call, more batches arrive; submit never blocks.
    for i in range(2, 50):
        notifier.submit([Published(i, "t", i % 3, 10 + i)])
    release.set()
    notifier.close()
    assert calls[0] == [Published(1, "t", 0, 10)]
    later = [p for call in calls[1:] for p in call]
    # One call for the rest, with the last event of each partition.
    assert len(calls) == 2
    assert sorted(later, key=lambda p: p.partition) == [
        Published(48, "t", 0, 58),
        Published(49, "t", 1, 59),
        Published(47, "t", 2, 57),
    ]


def test_a_failing_hook_does_not_stop_the_notifier() -> None:
    seen: list[int] = []

    def hook(batch: Sequence[Published]) -> None:
        seen.extend(p.outbox_id for p in batch)
        if len(seen) == 1:
            raise RuntimeError("broker down")

    notifier = _Notifier(hook)
    notifier.start()
    notifier.submit([Published(1, "t", 0, 0)])
    notifier.flush()
    notifier.submit([Published(2, "t", 0, 1)])
    notifier.close()
    assert seen == [1, 2]
