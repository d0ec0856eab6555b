"""A small JSON-over-HTTP client for end-to-end tests against the real web server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Http:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.bearer: str | None = None
        # Each process's metrics address, by service (set by the e2e live system).
        self.metrics: dict[str, str] = {}

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if self.bearer:
            request.add_header("Authorization", f"Bearer {self.bearer}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                return _reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return _reply(error.code, error.headers, error.read())

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.call("GET", path, headers=headers)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        return self.call("POST", path, body, headers)

    def patch(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        return self.call("PATCH", path, body, headers)

    def until(
        self,
        what: str,
        call: Callable[[], Reply],
        done: Callable[[Reply], bool],
        timeout: float = 60,
    ) -> Reply:
        """Repeat a call until its reply is what we wait for (eventual consistency)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = call()
            if done(reply):
                return reply
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last reply {reply}")
            time.sleep(0.1)


def _reply(status: int, headers: Any, raw: bytes) -> Reply:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Reply(status, {k.lower(): v for k, v in headers.items()}, body)
