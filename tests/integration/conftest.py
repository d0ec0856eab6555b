from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _servers(isolated_servers: None) -> None:
    """Every test here runs against this run's isolated vhost, topics and key prefix."""


@pytest.fixture(autouse=True)
def _no_leftover_workers() -> Iterator[None]:
    yield
    from tests.support.engine import stop_leftover_workers

    stop_leftover_workers()
