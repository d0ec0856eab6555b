"""What callers may ask of the notifications module (imperative, frozen)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notify:
    notification_id: str


@dataclass(frozen=True)
class RecordDelivery:
    notification_id: str
    outcome: str


@dataclass(frozen=True)
class Resend:
    notification_id: str


@dataclass(frozen=True)
class MarkRead:
    notification_id: str
