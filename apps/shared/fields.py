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


class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Base of the nested `Input` serializers of API classes: named after their API in the
    OpenAPI schema (`AccountRegisterApi.Input` -> `AccountRegisterInput`), so they never clash."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = cls.__qualname__.split(".")[0].removesuffix("Api")
        cls.Meta = type("Meta", (), {"ref_name": f"{owner}{cls.__name__}"})  # type: ignore[attr-defined]


def strict_data(serializer_cls: type[serializers.Serializer], request: Request) -> Any:  # type: ignore[type-arg]
    data = request.data
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    fields = serializer_cls().fields
    unknown = set(data) - set(fields)
    if unknown:
        raise ValidationError({name: ["unknown field"] for name in sorted(unknown)})
    # DRF's CharField turns numbers into strings; a wrong type is the caller's error.
    wrong = [
        name
        for name, f in fields.items()
        if isinstance(f, serializers.CharField)
        and name in data
        and data[name] is not None
        and not isinstance(data[name], str)
    ]
    if wrong:
        raise ValidationError({name: ["must be a string"] for name in wrong})
    return data


def strict(serializer_cls: type[serializers.Serializer], request: Request) -> dict[str, Any]:  # type: ignore[type-arg]
    serializer = serializer_cls(data=strict_data(serializer_cls, request))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
