"""Consistency tokens: what a write returns so a later read can wait for its effects.

A token names the last event a command wrote. The read side looks up where the relay put that
event in Kafka (partition, offset) and waits until the projections have passed it.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

import msgspec


class InvalidToken(ValueError):
    pass


@dataclass(frozen=True)
class ConsistencyToken:
    stream_id: str
    version: int
    event_id: uuid.UUID

    def encode(self) -> str:
        raw = msgspec.json.encode([1, self.stream_id, self.version, str(self.event_id)])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ConsistencyToken:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            fmt, stream_id, version, event_id = msgspec.json.decode(raw)
            if fmt != 1 or not isinstance(stream_id, str) or not isinstance(version, int):
                raise ValueError("unknown token format")
            return cls(stream_id=stream_id, version=version, event_id=uuid.UUID(event_id))
        except (ValueError, TypeError, binascii.Error, msgspec.DecodeError) as exc:
            raise InvalidToken(f"not a consistency token: {text[:40]!r}") from exc
