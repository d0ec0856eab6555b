"""Read-your-writes on an eventually consistent read side.

A write returns a consistency token; a read that carries it calls `wait_for(token, read_models)`
before querying. It returns as soon as those read models have applied the token's event, or
after `timeout` seconds with `fresh=False`, and the read then answers with the data it has and a
staleness marker. The waiting itself is the projection engine's, installed at start-up by the
composition root (config/wiring.py): business modules import this module, never the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings

from eventstore.tokens import ConsistencyToken, InvalidToken

TOKEN_HEADER = "X-Consistency-Token"  # noqa: S105 - a header name
STATE_HEADER = "X-Consistency"  # "fresh" or "stale"

Waiter = Callable[[ConsistencyToken, Sequence[str], float], "Freshness"]
_waiter: Waiter | None = None

__all__ = [
    "STATE_HEADER",
    "TOKEN_HEADER",
    "Freshness",
    "InvalidToken",
    "mark",
    "wait_for",
    "wait_for_request",
]


@dataclass(frozen=True)
class Freshness:
    fresh: bool
    waited: float

    @property
    def header(self) -> str:
        return "fresh" if self.fresh else "stale"


def wait_for(
    token: str | ConsistencyToken, read_models: Sequence[str], *, timeout: float | None = None
) -> Freshness:
    """Raises InvalidToken for a malformed token or one naming no stored event."""
    if isinstance(token, str):
        token = ConsistencyToken.decode(token)
    limit = settings.CONSISTENCY_WAIT_TIMEOUT if timeout is None else timeout
    limit = max(0.0, min(limit, settings.CONSISTENCY_WAIT_MAX))
    if _waiter is None:
        raise RuntimeError("no consistency waiter is installed: config.wiring.wire() installs it")
    return _waiter(token, read_models, limit)


def install_waiter(waiter: Waiter | None) -> None:
    global _waiter
    _waiter = waiter


def wait_for_request(request: Any, read_models: Sequence[str]) -> Freshness | None:
    """The wait a read request asks for: its token from the X-Consistency-Token header (or
    `?consistent_with=`), and at most `?max_wait=` seconds (default CONSISTENCY_WAIT_TIMEOUT).
    None when the request carries no token. Raises InvalidToken (answer 400) for a bad one."""
    token = request.headers.get(TOKEN_HEADER) or request.GET.get("consistent_with")
    raw_wait = request.GET.get("max_wait")
    timeout = None
    if raw_wait is not None:
        try:
            timeout = float(raw_wait)
        except ValueError:
            raise InvalidToken(f"max_wait must be a number of seconds, not {raw_wait!r}") from None
        if not timeout >= 0:  # also refuses NaN
            raise InvalidToken("max_wait must be zero or more seconds")
    if not token:
        return None
    return wait_for(token, read_models, timeout=timeout)


ResponseT = TypeVar("ResponseT")


def mark(response: ResponseT, freshness: Freshness | None) -> ResponseT:
    """Say on the response whether it reflects the write the request waited for."""
    if freshness is not None:
        response[STATE_HEADER] = freshness.header  # type: ignore[index]
        response["X-Consistency-Waited-Ms"] = f"{freshness.waited * 1000:.0f}"  # type: ignore[index]
    return response
