"""The relay's wake-up of the readers of the log: the on_published hook, on a thread of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from eventstore.relay.outbox import Published

log = logging.getLogger("eventstore.relay")


class Notifier(threading.Thread):
    """Calls the on_published hook on a thread of its own, so a slow hook (it enqueues
    wake-ups on the broker) never holds up publishing. Calls coalesce: each gets, per
    partition and event type, the last event Kafka acknowledged since the previous call,
    however many batches that was."""

    def __init__(self, hook: Callable[[Sequence[Published]], None]):
        super().__init__(name="relay-notifier", daemon=True)
        self.hook = hook
        self.cond = threading.Condition()
        self.latest: dict[tuple[str, int, str | None], Published] = {}
        self.closed = False
        self.busy = False

    def submit(self, delivered: Sequence[Published]) -> None:
        with self.cond:
            for p in delivered:
                self.latest[(p.topic, p.partition, p.event_type)] = p
            self.cond.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every submitted event has been passed to the hook."""
        with self.cond:
            self.cond.wait_for(lambda: not self.latest and not self.busy, timeout=timeout)

    def close(self) -> None:
        self.flush()
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.join(timeout=30)

    def run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.latest or self.closed)
                if not self.latest:
                    return
                batch, self.latest, self.busy = list(self.latest.values()), {}, True
            try:
                self.hook(batch)
            except Exception:  # a failing hook must not stop publishing
                log.exception("on_published hook failed")
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()
