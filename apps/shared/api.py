"""The HTTP conventions every module's API follows.

- One error format: `{"error": {"status", "code", "detail", "fields"?}}` for every 4xx,
  including DRF's own (validation, authentication, throttling, not found) and domain errors.
- Writes answer `{"id", "version", "token"}` with `ETag: "<version>"` and the consistency token
  in `X-Consistency-Token`; a later read sends the token back to see its own write.
- `If-Match: "<version>"` makes a write conditional (412 if the aggregate moved on);
  `Idempotency-Key` makes a retried write return the first outcome.
- Input is a JSON object with only the fields the operation accepts (`strict`): unknown fields
  are refused (400 naming them) rather than ignored, so a caller who tries to set a field it may
  not (mass assignment) learns it at once. DRF's CharField already refuses NUL bytes and lone
  surrogates; lengths are capped on every field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.http import Http404
from django.urls import register_converter
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler

from apps.shared.bus import Context
from apps.shared.errors import DomainError
from apps.shared.money import AMOUNT_PATTERN, amount, from_minor
from eventstore import logcontext
from eventstore.consistency import TOKEN_HEADER, InvalidToken
from eventstore.errors import IdempotencyConflict, UniquenessError
from eventstore.idempotency import CommandResult
from eventstore.repository import AggregateNotFound

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')
MAX_IDEMPOTENCY_KEY = 200


def error_body(status_code: int, code: str, detail: str, fields: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status_code, "code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return {"error": body}


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: domain and store errors to 4xx, all in one format."""
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.status, exc.code, exc.detail), status=exc.status)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, AggregateNotFound):
        return Response(error_body(404, "not_found", str(exc)), status=404)
    if isinstance(exc, UniquenessError):
        return Response(error_body(409, "already_taken", _taken(exc)), status=409)
    if isinstance(exc, IdempotencyConflict):
        return Response(error_body(422, "idempotency_key_reused", str(exc)), status=422)
    if isinstance(exc, InvalidToken):
        return Response(error_body(400, "invalid_consistency_token", str(exc)), status=400)
    handled = exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(400, "invalid", "the request has invalid fields", fields)
    elif isinstance(exc, exceptions.APIException):
        response.data = error_body(response.status_code, _code(exc), _detail(exc.detail))
    elif isinstance(exc, Http404):
        response.data = error_body(404, "not_found", "not found")
    return response


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, dict) and isinstance(codes.get("code"), str):
        return str(codes["code"])  # simplejwt's {"detail", "code", ...}
    return codes if isinstance(codes, str) else str(exc.default_code)


def _detail(detail: Any) -> str:
    if isinstance(detail, dict) and "detail" in detail:
        return str(detail["detail"])
    if isinstance(detail, list) and len(detail) == 1:
        return str(detail[0])
    return str(detail)


def _taken(exc: UniquenessError) -> str:
    what = exc.scope.rsplit(".", 1)[-1]
    return f"this {what} is already taken"


class CorrelationMiddleware:
    """Every request has a correlation id: the caller's `X-Correlation-ID` (a UUID) or a new
    one. It is on every log line of the request, in the metadata of the events its commands
    write (and so on the log lines of every process that handles them), and answered in
    `X-Correlation-ID` (in canonical form). A malformed header is refused by a command (400);
    the request's lines then carry a new id, which the answer names."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        raw = request.headers.get("X-Correlation-ID")
        try:
            correlation = uuid.UUID(raw) if raw else uuid.uuid4()
            request.correlation_id = correlation
        except ValueError:
            correlation = uuid.uuid4()  # for the logs and the answer; a command refuses it (400)
        with logcontext.bound(correlation_id=str(correlation)):
            response = self.get_response(request)
        response["X-Correlation-ID"] = str(correlation)
        return response


def context(request: Request, *, conditional: bool = True) -> Context:
    """The command context of a request: actor, correlation id, If-Match, Idempotency-Key."""
    user = request.user
    actor = str(user.username) if user and user.is_authenticated else None
    expected = None
    if conditional and (raw := request.headers.get("If-Match")) is not None:
        match = _ETAG.match(raw)
        if match is None:
            raise ValidationError({"If-Match": ['must be the version as an ETag, e.g. "3"']})
        expected = int(match.group(1))
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise ValidationError(
            {"Idempotency-Key": [f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"]}
        )
    correlation = getattr(request, "correlation_id", None)
    if raw_corr := request.headers.get("X-Correlation-ID"):
        try:
            correlation = uuid.UUID(raw_corr)
        except ValueError:
            raise ValidationError({"X-Correlation-ID": ["must be a UUID"]}) from None
    return Context(
        actor=actor, correlation_id=correlation, idempotency_key=key, expected_version=expected
    )


class CommandResultOutput(serializers.Serializer):  # type: ignore[type-arg]
    """What every command answers (`CommandResult` in the schema)."""

    id = serializers.CharField(help_text="The aggregate's id.")
    version = serializers.IntegerField(help_text="Its version after the command.")
    token = serializers.CharField(help_text="The consistency token (also in a header).")

    class Meta:
        ref_name = "CommandResult"


COMMAND_RESULT = CommandResultOutput


def command_response(
    result: CommandResult, *, created: bool = False, location: str | None = None
) -> Response:
    """A command's answer; a create says where its resource is read (`Location`)."""
    response = Response(
        {"id": result.stream_id, "version": result.version, "token": result.token},
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )
    response["ETag"] = f'"{result.version}"'
    response[TOKEN_HEADER] = result.token
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    if location is not None:
        response["Location"] = location
    return response


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


class Money(serializers.DecimalField):
    """An amount in a request: up to 12 digits, 4 of them decimals."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=4, **kwargs)


def iso_datetime(value: datetime | None) -> str | None:
    """What DRF's DateTimeField writes (ISO 8601 in the current time zone, UTC as "Z"), for a
    serializer that builds its rows without DRF's per-field machinery."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "12.50"})
class Amount(serializers.Field):  # type: ignore[type-arg]
    """An output amount, formatted by the currency in the `currency` attribute (or key) of the
    same object; `minor=True` when the value is held in minor units (an int of cents)."""

    def __init__(self, currency_field: str = "currency", *, minor: bool = False, **kwargs: Any):
        kwargs["read_only"] = True
        super().__init__(**kwargs)
        self.currency_field = currency_field
        self.minor = minor

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        currency = (
            instance[self.currency_field]
            if isinstance(instance, Mapping)
            else getattr(instance, self.currency_field)
        )
        return None if value is None else (value, currency)

    def to_representation(self, value: Any) -> str:
        raw, currency = value
        return from_minor(raw, currency) if self.minor else amount(raw, currency)


class UuidStr:
    """A UUID in a path (`<uuid_str:product_id>`), passed to the view as its canonical string
    (aggregate ids)."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> str:
        return str(uuid.UUID(value))

    def to_url(self, value: str) -> str:
        return str(value)


register_converter(UuidStr, "uuid_str")
