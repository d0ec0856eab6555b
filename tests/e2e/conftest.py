import pytest


@pytest.fixture(autouse=True, scope="session")
def _servers(isolated_servers: None) -> None:
    """Every test here runs against this run's isolated vhost, topics and key prefix."""
