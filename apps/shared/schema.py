"""The OpenAPI schema of every operation, by one rule (DRF's DEFAULT_SCHEMA_CLASS).

drf-spectacular documents what a view's serializers say; this rule adds what the HTTP
conventions of `apps.shared.api` add to every operation, from what the view already declares:

- **Errors.** Every status an operation can answer, each with the one error envelope
  (`ErrorEnvelope`) and the codes known for it: 400 when it takes a body, a query or a header;
  401 when it authenticates (or says how to, like the login); 403 when a permission stands in
  the way (or CSRF, for a session's write); 404 when its path names something; 415 when it takes
  a body; for commands 404, 409, 412 (with If-Match) and 422. A view adds the statuses only it
  can answer with `errors = (410, 429)`.
- **Commands** are the operations answering a `CommandResult`: they document `ETag`,
  `X-Consistency-Token`, `Idempotent-Replayed` (and `Location` on a 201), and take
  `Idempotency-Key`, `X-Correlation-ID` and (unless the view says `conditional = False`)
  `If-Match`. A view that does not build its context from the request says
  `command_context = False`.
- **Reads that wait** are the GETs of a view with `read_models = [...]`: they take
  `X-Consistency-Token` (or `?consistent_with=`) and `?max_wait=`, and answer `X-Consistency`
  and `X-Consistency-Waited-Ms` when a token was sent. `etag = True` documents a read's `ETag`.
- **Examples.** A write's input serializer carries `example = {...}`: it becomes the request
  body's example (checked against the schema by the tests).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from apps.shared.api import CommandResultOutput
from apps.shared.errors import DomainError

WRITES = ("POST", "PUT", "PATCH", "DELETE")

# Codes the framework and the conventions answer with, per status; domain errors add theirs.
FRAMEWORK_CODES: dict[int, tuple[str, ...]] = {
    400: ("invalid", "parse_error", "invalid_consistency_token"),
    401: ("not_authenticated", "authentication_failed", "token_not_valid"),
    403: ("permission_denied",),
    404: ("not_found",),
    409: ("write_conflict", "already_taken"),
    412: ("precondition_failed",),
    415: ("unsupported_media_type",),
    422: ("invalid_command", "idempotency_key_reused"),
    429: ("throttled",),
}

REASONS = {
    400: "The request is malformed: `fields` names each bad field, query parameter or header.",
    401: "Not authenticated: no or a bad token, or wrong credentials.",
    403: "Authenticated, but not allowed.",
    404: "Nothing here by that id (or nothing the caller may see).",
    409: "The command conflicts with the current state.",
    410: "Gone: the person's data was erased.",
    412: "`If-Match` names a version that is not the current one.",
    415: "The body is not JSON.",
    422: "The command's values break a rule, or its `Idempotency-Key` was used for another.",
    429: "Too many attempts: wait `Retry-After` seconds.",
}


class ErrorDetail(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(help_text="A stable, machine-readable reason.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False,
        help_text="Per field, query parameter or header: its errors (validation errors only).",
    )


class ErrorEnvelope(serializers.Serializer):  # type: ignore[type-arg]
    error = ErrorDetail()


def _header(description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "schema": {"type": "string", **schema},
        "description": description,
        "required": required,
    }


def _parameter(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "in": where,
        "name": name,
        "schema": {"type": "string", **schema},
        "description": description,
        "required": False,
    }


IF_MATCH = _parameter(
    "If-Match",
    "header",
    'Write only if the aggregate is at this version (its ETag, e.g. `"3"`); 412 otherwise.',
    pattern=r'^\s*(W/)?"?\d{1,9}"?\s*$',
)
IDEMPOTENCY_KEY = _parameter(
    "Idempotency-Key",
    "header",
    "Retrying with the same key returns the first outcome (`Idempotent-Replayed: true`).",
    minLength=1,
    maxLength=200,
)
CORRELATION_ID = _parameter(
    "X-Correlation-ID", "header", "Carried in the events' metadata.", format="uuid"
)
CONSISTENCY_TOKEN = _parameter(
    "X-Consistency-Token",
    "header",
    "A write's token: the read waits until its read models have applied that write.",
)
CONSISTENT_WITH = _parameter(
    "consistent_with", "query", "The same as the X-Consistency-Token header."
)
MAX_WAIT = {
    **_parameter("max_wait", "query", "Wait at most this many seconds for the token's write."),
    "schema": {"type": "number", "minimum": 0},
}

COMMAND_HEADERS = {
    "ETag": _header('The aggregate\'s new version, e.g. `"4"`.', required=True),
    "X-Consistency-Token": _header("Send it with a later read to see this write.", required=True),
    "Idempotent-Replayed": _header(
        "`true` when this is the stored outcome of an earlier request with the same key.",
        enum=["true"],
    ),
}
CORRELATION_HEADER = _header(
    "The request's correlation id (the caller's, or a new one): on every log line and event "
    "it caused.",
    format="uuid",
)
LOCATION = _header("Where the created resource is read.", required=True, format="uri-reference")
READ_HEADERS = {
    "X-Consistency": _header(
        "With a token: `fresh` when the read reflects it, `stale` when the wait timed out.",
        enum=["fresh", "stale"],
    ),
    "X-Consistency-Waited-Ms": _header("How long the read waited for the token."),
}
ETAG = {"ETag": _header("The version read, for `If-Match`.", required=True)}
RETRY_AFTER = {"Retry-After": _header("Seconds to wait before trying again.", required=True)}


def domain_codes() -> dict[int, set[str]]:
    """The codes of every domain error, by status (the modules' errors are imported by then)."""
    found: dict[int, set[str]] = {}
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.status, set()).add(cls.code)
        pending.extend(cls.__subclasses__())
    return found


class ApiSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        command = self._is_command()
        parameters = operation.setdefault("parameters", [])
        if command and getattr(self.view, "command_context", True):
            if getattr(self.view, "conditional", True):
                parameters.append(IF_MATCH)
            parameters.extend([IDEMPOTENCY_KEY, CORRELATION_ID])
        waits = self.method == "GET" and bool(getattr(self.view, "read_models", None))
        if waits:
            parameters.extend([CONSISTENCY_TOKEN, CONSISTENT_WITH, MAX_WAIT])
        if not parameters:
            del operation["parameters"]

        responses = operation["responses"]
        for code, response in responses.items():
            if not code.startswith("2"):
                continue
            headers = response.setdefault("headers", {})
            headers["X-Correlation-ID"] = CORRELATION_HEADER
            if command:
                headers.update(COMMAND_HEADERS)
                if code == "201":
                    headers["Location"] = LOCATION
            if waits:
                headers.update(READ_HEADERS)
            if self.method == "GET" and getattr(self.view, "etag", False):
                headers.update(ETAG)
            if not headers:
                del response["headers"]
        for status in sorted(self._error_statuses(operation, command)):
            responses.setdefault(str(status), self._error_response(status))
        if "requestBody" in operation:
            self._add_example(operation["requestBody"])
        return operation

    def _is_command(self) -> bool:
        if self.method not in WRITES:
            return False
        found = self.get_response_serializers()
        candidates = found.values() if isinstance(found, dict) else [found]
        return any(
            isinstance(s, CommandResultOutput)
            or (isinstance(s, type) and issubclass(s, CommandResultOutput))
            for s in candidates
        )

    def _error_statuses(self, operation: dict[str, Any], command: bool) -> set[int]:
        view = self.view
        statuses = set(getattr(view, "errors", ()))
        body = "requestBody" in operation
        if body or operation.get("parameters"):
            statuses.add(400)
        if body:
            statuses.add(415)
        authenticators = view.get_authenticators()
        says_how = type(view).get_authenticate_header is not APIView.get_authenticate_header
        if authenticators or says_how:
            statuses.add(401)
        guarded = any(not isinstance(p, AllowAny) for p in view.get_permissions())
        csrf = self.method in WRITES and any(
            isinstance(a, SessionAuthentication) for a in authenticators
        )
        if guarded or csrf:
            statuses.add(403)
        if "{" in self.path:
            statuses.add(404)
        if command:
            statuses.update((404, 409, 422))
            if getattr(view, "command_context", True) and getattr(view, "conditional", True):
                statuses.add(412)
        return statuses

    def _error_response(self, status: int) -> dict[str, Any]:
        codes = sorted(set(FRAMEWORK_CODES.get(status, ())) | domain_codes().get(status, set()))
        description = REASONS.get(status, "An error.")
        if codes:
            description += " Codes: " + ", ".join(f"`{c}`" for c in codes) + "."
        ref = self.resolve_serializer(ErrorEnvelope, "response").ref
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": ref}},
        }
        if status == 429:
            response["headers"] = dict(RETRY_AFTER)
        elif status == 409:
            response["headers"] = {
                "Retry-After": _header("When the conflict is expected to pass (a moment).")
            }
        return response

    def _add_example(self, body: dict[str, Any]) -> None:
        serializer = self.get_request_serializer()
        example = getattr(serializer, "example", None)
        if example is None:
            return
        for media in body.get("content", {}).values():
            media.setdefault("examples", {})["example"] = {"value": example}
