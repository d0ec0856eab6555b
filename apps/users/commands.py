"""What callers may ask of the users module (imperative, frozen): the messages the command bus
(apps.shared.bus) hands to the handlers in handlers.py. A profile's id is its account's; its
stream id is derived from it (`stream_id`)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.users.aggregates import stream_id_for


@dataclass(frozen=True)
class ProfileCommand:
    profile_id: str

    @property
    def stream_id(self) -> str:
        return stream_id_for(self.profile_id)


@dataclass(frozen=True)
class CreateProfile(ProfileCommand):
    pass


@dataclass(frozen=True)
class UpdateProfile(ProfileCommand):
    changes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SetNotificationPreferences(ProfileCommand):
    kinds: tuple[str, ...]
    channels: tuple[str, ...]


@dataclass(frozen=True)
class WatchProduct(ProfileCommand):
    product_id: str


@dataclass(frozen=True)
class UnwatchProduct(ProfileCommand):
    product_id: str


@dataclass(frozen=True)
class EraseProfile(ProfileCommand):
    """With no profile yet (its creation has not run), the stream is started erased, so a
    creation that comes later finds it taken and creates nothing."""
