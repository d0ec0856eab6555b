"""The users module's published language: profiles, preferences and watchlists.

A profile's id is its account's id (one person, one key for crypto-shredding). Display name,
bio and avatar URL are personal data, stored encrypted (eventstore.personal). Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

NOTIFICATION_KINDS = ("welcome", "price_drop", "low_stock")
CHANNELS = ("email", "inbox")


@dataclass(frozen=True)
class ProfileCreated:
    event_type: ClassVar[str] = "users.ProfileCreated"
    schema_version: ClassVar[int] = 1

    profile_id: str
    locale: str = "en"
    time_zone: str = "UTC"
    kinds: tuple[str, ...] = NOTIFICATION_KINDS
    channels: tuple[str, ...] = CHANNELS


@dataclass(frozen=True)
class ProfileUpdated:
    """The profile's editable fields after the change (all of them: consumers need no state)."""

    event_type: ClassVar[str] = "users.ProfileUpdated"
    schema_version: ClassVar[int] = 1
    personal_data: ClassVar[tuple[str, ...]] = ("display_name", "bio", "avatar_url")
    data_subject: ClassVar[str] = "profile_id"

    profile_id: str
    display_name: str
    bio: str
    locale: str
    time_zone: str
    avatar_url: str


@dataclass(frozen=True)
class NotificationPreferencesChanged:
    event_type: ClassVar[str] = "users.NotificationPreferencesChanged"
    schema_version: ClassVar[int] = 1

    profile_id: str
    kinds: tuple[str, ...]
    channels: tuple[str, ...]


@dataclass(frozen=True)
class ProductWatched:
    event_type: ClassVar[str] = "users.ProductWatched"
    schema_version: ClassVar[int] = 1

    profile_id: str
    product_id: str


@dataclass(frozen=True)
class ProductUnwatched:
    event_type: ClassVar[str] = "users.ProductUnwatched"
    schema_version: ClassVar[int] = 1

    profile_id: str
    product_id: str


@dataclass(frozen=True)
class ProfileErased:
    event_type: ClassVar[str] = "users.ProfileErased"
    schema_version: ClassVar[int] = 1

    profile_id: str
