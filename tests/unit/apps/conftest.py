from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.commands import Shop, installed_shop


@pytest.fixture
def shop() -> Iterator[Shop]:
    yield from installed_shop()
