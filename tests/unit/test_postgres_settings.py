"""POSTGRES_PREPARE_THRESHOLD: a number, or none (behind a transaction-mode pooler)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from django.core.exceptions import ImproperlyConfigured

Loader = Callable[[str], ModuleType]


@pytest.fixture
def load_with(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loader]:
    module = importlib.import_module("config.settings.postgres")

    def load(value: str) -> ModuleType:
        monkeypatch.setenv("POSTGRES_PREPARE_THRESHOLD", value)
        return importlib.reload(module)

    yield load
    monkeypatch.delenv("POSTGRES_PREPARE_THRESHOLD", raising=False)
    importlib.reload(module)


@pytest.mark.parametrize(("value", "expected"), [("7", 7), ("0", 0), ("none", None), ("", None)])
def test_the_threshold_reaches_the_connection_options(
    load_with: Loader, value: str, expected: int | None
) -> None:
    loaded = load_with(value)
    threshold = loaded.POSTGRES_PREPARE_THRESHOLD
    assert threshold == expected
    assert loaded.DATABASES["default"]["OPTIONS"]["prepare_threshold"] == expected


def test_a_threshold_that_is_not_a_number_is_refused_clearly(load_with: Loader) -> None:
    with pytest.raises(ImproperlyConfigured, match="POSTGRES_PREPARE_THRESHOLD.*'five'"):
        load_with("five")
