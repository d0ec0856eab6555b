"""Input parsing every API uses: a JSON object with only the fields the operation accepts.

Unknown fields are refused (400 naming them) rather than ignored, so a caller who tries to set
a field it may not (mass assignment) learns it at once. DRF's CharField already refuses NUL
bytes and lone surrogates; lengths are capped on every field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


def strict_data(serializer_cls: type[serializers.Serializer], request: Request) -> Any:  # type: ignore[type-arg]
    data = request.data
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    unknown = set(data) - set(serializer_cls().fields)
    if unknown:
        raise ValidationError({name: ["unknown field"] for name in sorted(unknown)})
    return data


def strict(serializer_cls: type[serializers.Serializer], request: Request) -> dict[str, Any]:  # type: ignore[type-arg]
    serializer = serializer_cls(data=strict_data(serializer_cls, request))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
