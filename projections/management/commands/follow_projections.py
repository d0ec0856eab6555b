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

from eventstore import metrics
from projections import follower


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("projections").setLevel(logging.INFO)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if settings.METRICS_PORT:
            metrics.serve(settings.METRICS_HOST, settings.METRICS_PORT)
        done = follower.follow(should_stop=stop.is_set)
        self.stdout.write(
            f"follower stopped after applying {done.applied} events "
            f"(handed {done.handed_over} partitions back)"
        )
