"""Domain errors: what a command refuses, and the HTTP status the API answers with."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule. `status` and `code` shape the API's answer."""

    status = 409
    code = "conflict"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidCommand(DomainError):
    """The command's values break a rule the aggregate owns (a non-positive price, ...)."""

    status = 422
    code = "invalid_command"


class NotAllowed(DomainError):
    status = 403
    code = "permission_denied"
