"""Module tests start their read models, reactions and side effects at the end of the log."""

from __future__ import annotations

import pytest

from tests.support.shop import skip_earlier_events


@pytest.fixture(autouse=True)
def engine_at_log_end(request: pytest.FixtureRequest) -> None:
    if "transactional_db" in request.fixturenames or any(
        m.kwargs.get("transaction") for m in request.node.iter_markers("django_db")
    ):
        request.getfixturevalue("transactional_db")
        skip_earlier_events()
