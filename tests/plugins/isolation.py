"""Per-run isolation for tests against the real servers.

Loaded with `-p tests.plugins.isolation` so it runs before pytest-django reads the settings. Each
run gets its own Postgres test database, Redis key prefix (in a separate DB index), RabbitMQ vhost
and Kafka topic names. They are exported in os.environ, so the worker and relay processes a test
starts share them.
"""

from __future__ import annotations

import os
import uuid

RUN_ID = os.environ.get("TEST_RUN_ID") or uuid.uuid4().hex[:8]

ISOLATED = {
    "TEST_RUN_ID": RUN_ID,
    "DJANGO_SETTINGS_MODULE": "config.django.test",
    "POSTGRES_TEST_DB": f"test_cqrs_{RUN_ID}",
    "REDIS_DB": os.environ.get("TEST_REDIS_DB", "1"),
    "REDIS_KEY_PREFIX": f"test:{RUN_ID}",
    "RABBITMQ_VHOST": f"test_{RUN_ID}",
    "KAFKA_TOPIC_PREFIX": f"test-{RUN_ID}.",
}
os.environ.update(ISOLATED)
