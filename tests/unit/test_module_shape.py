"""Every business module has the same files for the same roles (docs/architecture.md), and
names its extras in its docstring."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from django.conf import settings

APPS = Path(__file__).resolve().parents[2] / "apps"
SHAPE = {
    "__init__.py",
    "apps.py",
    "events.py",
    "commands.py",
    "aggregates.py",
    "handlers.py",
    "queries.py",
    "read_models.py",
    "reactions.py",
    "public.py",
    "models.py",
    "migrations",
    "api",
    "admin.py",
}


@pytest.mark.parametrize("module", settings.EVENT_MODULES)
def test_a_module_has_the_shape_and_names_its_extras(module: str) -> None:
    present = {p.name for p in (APPS / module).iterdir() if not p.name.startswith((".", "__p"))}
    assert sorted(SHAPE - present) == []
    doc = importlib.import_module(f"apps.{module}").__doc__ or ""
    unnamed = [extra for extra in sorted(present - SHAPE) if f"`{extra}" not in doc]
    assert unnamed == [], f"apps/{module}/__init__.py does not name its extras {unnamed}"
