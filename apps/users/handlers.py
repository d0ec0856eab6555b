"""The users module's command handlers, and their table (`HANDLERS`, read by the command bus:
apps.shared.bus). A handler takes the command, and the profile it changes; it records events
through the aggregate or raises a DomainError."""

from __future__ import annotations

from apps.products.public import product_exists
from apps.shared.bus import Changes, Creates, HandlerTable, New
from apps.shared.errors import DomainError
from apps.users import commands as c
from apps.users.aggregates import Profile


class UnknownProduct(DomainError):
    status = 422
    code = "unknown_product"


def create_profile(cmd: c.CreateProfile) -> New[Profile]:
    return New(Profile.create(cmd.profile_id))


def update_profile(cmd: c.UpdateProfile, profile: Profile) -> None:
    profile.update(**dict(cmd.changes))


def set_notification_preferences(cmd: c.SetNotificationPreferences, profile: Profile) -> None:
    profile.set_preferences(kinds=list(cmd.kinds), channels=list(cmd.channels))


def watch_product(cmd: c.WatchProduct, profile: Profile) -> None:
    if not product_exists(cmd.product_id):
        raise UnknownProduct(f"there is no product {cmd.product_id}")
    profile.watch(cmd.product_id)


def unwatch_product(cmd: c.UnwatchProduct, profile: Profile) -> None:
    profile.unwatch(cmd.product_id)


def new_profile(cmd: c.EraseProfile) -> Profile:
    return Profile.create(cmd.profile_id)


def erase_profile(cmd: c.EraseProfile, profile: Profile) -> None:
    profile.erase()


HANDLERS: HandlerTable = {
    c.CreateProfile: Creates(create_profile),
    c.UpdateProfile: Changes(Profile, update_profile),
    c.SetNotificationPreferences: Changes(Profile, set_notification_preferences),
    c.WatchProduct: Changes(Profile, watch_product),
    c.UnwatchProduct: Changes(Profile, unwatch_product),
    c.EraseProfile: Changes(Profile, erase_profile, start=new_profile),
}
