"""Follow every projection's partitions as events arrive: `manage.py follow_projections` (runs
until SIGTERM/Ctrl-C). Run as many as you like, on any hosts: they share the partitions through
a Kafka consumer group (projections/follower.py)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from eventstore import metrics
from projections import follower

logger = logging.getLogger("projections")
RETRY = 5.0  # seconds before a follower that failed (a server away, say) starts again


class Command(BaseCommand):
    help = __doc__
    # A daemon skips Django's system checks: they load the URLconf (every view, DRF, the
    # schema), about 12 MB it never uses. migrate and `manage.py check` run them
    # (tests/unit/test_system_checks.py).
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("projections").setLevel(logging.INFO)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if settings.METRICS_PORT:
            metrics.serve(settings.METRICS_HOST, settings.METRICS_PORT)
        applied = handed_over = 0
        while not stop.is_set():
            try:
                done = follower.follow(should_stop=stop.is_set)
            except Exception:  # noqa: BLE001 - whatever it was, the live tail must come back
                logger.exception("follower: failed; starting again in %s s", RETRY)
                connection.close()
                stop.wait(RETRY)
                continue
            applied += done.applied
            handed_over += done.handed_over
        self.stdout.write(
            f"follower stopped after applying {applied} events "
            f"(handed {handed_over} partitions back)"
        )
