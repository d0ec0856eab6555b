"""Create the Kafka topics the project declares (settings.KAFKA_TOPICS); idempotent."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from eventstore.kafka_admin import ensure_topics


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            outcome = ensure_topics(settings.KAFKA_BOOTSTRAP_SERVERS, settings.KAFKA_TOPICS)
        except KafkaException as exc:
            raise CommandError(
                f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} refused topic creation: {exc}. "
                "Is it running? Start it with: make stack-up"
            ) from exc
        for name, state in sorted(outcome.items()):
            self.stdout.write(f"topic {name}: {state}")
