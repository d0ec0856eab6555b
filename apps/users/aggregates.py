"""The Profile aggregate: profile fields, notification preferences, product watchlist. Pure."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from typing import ClassVar

from apps.shared.errors import DomainError, InvalidCommand
from apps.users.events import (
    CHANNELS,
    NOTIFICATION_KINDS,
    NotificationPreferencesChanged,
    ProductUnwatched,
    ProductWatched,
    ProfileCreated,
    ProfileErased,
    ProfileUpdated,
)
from eventstore.aggregate import Aggregate, applies

STREAM_TYPE = "users.Profile"
STREAM_PREFIX = "profile-"


def stream_id_for(profile_id: str) -> str:
    """A profile's id is its account's id (one person, one key); its stream id differs from
    the account's, as every stream id is unique across the store."""
    return f"{STREAM_PREFIX}{profile_id}"


MAX_WATCHLIST = 500
EDITABLE = ("display_name", "bio", "locale", "time_zone", "avatar_url")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


class ProfileErasedError(DomainError):
    status = 410
    code = "erased"


class NotWatched(DomainError):
    status = 404
    code = "not_found"


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class Profile(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE
    snapshots: ClassVar[bool] = False  # the state holds personal fields in clear

    display_name: str = ""
    bio: str = ""
    locale: str = "en"
    time_zone: str = "UTC"
    avatar_url: str = ""
    kinds: list[str] = []  # noqa: RUF012 - copied per instance by Aggregate
    channels: list[str] = []  # noqa: RUF012
    watchlist: list[str] = []  # noqa: RUF012
    erased: bool = False

    @classmethod
    def create(cls, profile_id: str) -> Profile:
        profile = cls(stream_id_for(profile_id))
        profile._record(ProfileCreated(profile_id=profile_id))
        return profile

    @property
    def profile_id(self) -> str:
        return self.id.removeprefix(STREAM_PREFIX)

    def _check_live(self) -> None:
        if self.erased:
            raise ProfileErasedError(f"profile {self.profile_id} is erased")

    def update(self, **changes: str) -> None:
        """Change some of the editable fields; recording nothing when nothing changes."""
        self._check_live()
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise InvalidCommand(f"not editable: {', '.join(sorted(unknown))}")
        if "locale" in changes and not _LOCALE.match(changes["locale"]):
            raise InvalidCommand(f"unknown locale {changes['locale']!r} (e.g. 'en' or 'pt-BR')")
        if "time_zone" in changes and changes["time_zone"] not in _zones():
            raise InvalidCommand(f"unknown time zone {changes['time_zone']!r}")
        after = {name: changes.get(name, getattr(self, name)) for name in EDITABLE}
        if all(after[name] == getattr(self, name) for name in EDITABLE):
            return
        self._record(ProfileUpdated(profile_id=self.profile_id, **after))

    def set_preferences(self, *, kinds: list[str], channels: list[str]) -> None:
        self._check_live()
        if bad := set(kinds) - set(NOTIFICATION_KINDS):
            raise InvalidCommand(f"unknown notification kinds: {', '.join(sorted(bad))}")
        if bad := set(channels) - set(CHANNELS):
            raise InvalidCommand(f"unknown channels: {', '.join(sorted(bad))}")
        new_kinds = tuple(k for k in NOTIFICATION_KINDS if k in kinds)
        new_channels = tuple(c for c in CHANNELS if c in channels)
        if list(new_kinds) == self.kinds and list(new_channels) == self.channels:
            return
        self._record(
            NotificationPreferencesChanged(
                profile_id=self.profile_id, kinds=new_kinds, channels=new_channels
            )
        )

    def watch(self, product_id: str) -> None:
        self._check_live()
        if product_id in self.watchlist:
            return
        if len(self.watchlist) >= MAX_WATCHLIST:
            raise InvalidCommand(f"a watchlist holds at most {MAX_WATCHLIST} products")
        self._record(ProductWatched(profile_id=self.profile_id, product_id=product_id))

    def unwatch(self, product_id: str) -> None:
        self._check_live()
        if product_id not in self.watchlist:
            raise NotWatched(f"product {product_id} is not on the watchlist")
        self._record(ProductUnwatched(profile_id=self.profile_id, product_id=product_id))

    def erase(self) -> None:
        if self.erased:
            return
        self._record(ProfileErased(profile_id=self.profile_id))

    # -- appliers

    @applies(ProfileCreated)
    def _created(self, event: ProfileCreated) -> None:
        self.locale = event.locale
        self.time_zone = event.time_zone
        self.kinds = list(event.kinds)
        self.channels = list(event.channels)

    @applies(ProfileUpdated)
    def _updated(self, event: ProfileUpdated) -> None:
        for name in EDITABLE:
            setattr(self, name, getattr(event, name))

    @applies(NotificationPreferencesChanged)
    def _preferences(self, event: NotificationPreferencesChanged) -> None:
        self.kinds = list(event.kinds)
        self.channels = list(event.channels)

    @applies(ProductWatched)
    def _watched(self, event: ProductWatched) -> None:
        self.watchlist = [*self.watchlist, event.product_id]

    @applies(ProductUnwatched)
    def _unwatched(self, event: ProductUnwatched) -> None:
        self.watchlist = [p for p in self.watchlist if p != event.product_id]

    @applies(ProfileErased)
    def _erased(self, event: ProfileErased) -> None:
        self.erased = True
        for name in ("display_name", "bio", "avatar_url"):
            setattr(self, name, "")
        self.watchlist = []
