"""Every projection test starts from empty read models positioned at the end of the log (earlier
tests' events are skipped), with the test switches (poison fix, v2) off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from tests.support.engine import PG, REDIS, fast_forward

SWITCHES = ("poison-fixed", "ledger-v2")


def _switches_off() -> None:
    client = get_redis_connection("default")
    client.delete(*(f"{settings.REDIS_KEY_PREFIX}:{s}" for s in SWITCHES))


@pytest.fixture(autouse=True)
def fresh_read_models(transactional_db: None) -> Iterator[None]:
    _switches_off()
    for name in (PG, REDIS):
        fast_forward(name)
    yield
    _switches_off()
