"""Publish the outbox to Kafka: `manage.py relay` (runs until SIGTERM/Ctrl-C)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventstore import metrics
from eventstore.kafka_admin import ensure_topics
from eventstore.relay import Relay, RelayConfig
from eventstore.runtime import on_published, postgres_dsn


class Command(BaseCommand):
    help = __doc__
    # A daemon skips Django's system checks: they load the URLconf (every view, DRF, the
    # schema), about 12 MB it never uses. migrate and `manage.py check` run them
    # (tests/unit/test_system_checks.py).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="publish what is in the outbox, then exit"
        )
        parser.add_argument("--batch-size", type=int, default=settings.EVENTSTORE_RELAY_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        logging.getLogger("eventstore").setLevel(logging.INFO)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if settings.METRICS_PORT:
            metrics.serve(settings.METRICS_HOST, settings.METRICS_PORT)
        try:
            ensure_topics(settings.KAFKA_BOOTSTRAP_SERVERS, settings.KAFKA_TOPICS)
        except Exception as exc:  # noqa: BLE001 - Kafka down: the relay still starts and waits
            self.stderr.write(f"could not check topics ({exc}); continuing")
        relay = Relay(
            RelayConfig(
                dsn=postgres_dsn(),
                bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
                batch_size=options["batch_size"],
                idle_wait=settings.EVENTSTORE_RELAY_IDLE_WAIT,
            ),
            stop=stop,
            on_published=on_published(),
        )
        total = relay.run(once=options["once"])
        self.stdout.write(f"relay stopped after publishing {total} events")
