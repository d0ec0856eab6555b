"""Command handlers of the users module."""

from __future__ import annotations

from apps.products.public import product_exists
from apps.shared.commands import Context, create, repository, update
from apps.shared.errors import DomainError
from apps.users.aggregates import Profile, stream_id_for
from apps.users.commands import (
    CreateProfile,
    EraseProfile,
    SetNotificationPreferences,
    UnwatchProduct,
    UpdateProfile,
    WatchProduct,
)
from eventstore.commands import CommandResult
from eventstore.errors import ConcurrencyError


class UnknownProduct(DomainError):
    status = 422
    code = "unknown_product"


def create_profile(*, profile_id: str, ctx: Context) -> CommandResult | None:
    """None when the profile exists already (a repeated reaction, or erased first)."""
    if repository(Profile).exists(stream_id_for(profile_id)):
        return None
    try:
        return create(Profile.create(profile_id), ctx=ctx, command=CreateProfile(profile_id))
    except ConcurrencyError:
        return None


def update_profile(*, profile_id: str, changes: dict[str, str], ctx: Context) -> CommandResult:
    return update(
        Profile,
        stream_id_for(profile_id),
        lambda p: p.update(**changes),
        ctx=ctx,
        command=UpdateProfile(profile_id, tuple(sorted(changes.items()))),
    )


def set_notification_preferences(
    *, profile_id: str, kinds: list[str], channels: list[str], ctx: Context
) -> CommandResult:
    return update(
        Profile,
        stream_id_for(profile_id),
        lambda p: p.set_preferences(kinds=kinds, channels=channels),
        ctx=ctx,
        command=SetNotificationPreferences(profile_id, tuple(kinds), tuple(channels)),
    )


def watch_product(*, profile_id: str, product_id: str, ctx: Context) -> CommandResult:
    if not product_exists(product_id):
        raise UnknownProduct(f"there is no product {product_id}")
    return update(
        Profile,
        stream_id_for(profile_id),
        lambda p: p.watch(product_id),
        ctx=ctx,
        command=WatchProduct(profile_id, product_id),
    )


def unwatch_product(*, profile_id: str, product_id: str, ctx: Context) -> CommandResult:
    return update(
        Profile,
        stream_id_for(profile_id),
        lambda p: p.unwatch(product_id),
        ctx=ctx,
        command=UnwatchProduct(profile_id, product_id),
    )


def erase_profile(*, profile_id: str, ctx: Context) -> CommandResult:
    """With no profile yet (its creation has not run), the stream is started erased, so a
    creation that comes later finds it taken and creates nothing."""
    if not repository(Profile).exists(stream_id_for(profile_id)):
        profile = Profile.create(profile_id)
        profile.erase()
        try:
            return create(profile, ctx=ctx, command=EraseProfile(profile_id))
        except ConcurrencyError:
            pass  # created meanwhile: erase it below
    return update(
        Profile,
        stream_id_for(profile_id),
        lambda p: p.erase(),
        ctx=ctx,
        command=EraseProfile(profile_id),
    )
