"""What callers may ask of the users module (imperative, frozen)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreateProfile:
    profile_id: str


@dataclass(frozen=True)
class UpdateProfile:
    profile_id: str
    changes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SetNotificationPreferences:
    profile_id: str
    kinds: tuple[str, ...]
    channels: tuple[str, ...]


@dataclass(frozen=True)
class WatchProduct:
    profile_id: str
    product_id: str


@dataclass(frozen=True)
class UnwatchProduct:
    profile_id: str
    product_id: str


@dataclass(frozen=True)
class EraseProfile:
    profile_id: str
