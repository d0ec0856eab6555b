"""Path converters the modules' URLs share."""

from __future__ import annotations

import uuid

from django.urls import register_converter


class UuidStr:
    """A UUID in a path, passed to the view as its canonical string (aggregate ids)."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> str:
        return str(uuid.UUID(value))

    def to_url(self, value: str) -> str:
        return str(value)


register_converter(UuidStr, "uuid_str")
