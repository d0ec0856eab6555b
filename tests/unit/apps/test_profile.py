"""The Profile aggregate: given events, a command, the events it records or the error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.shared.errors import InvalidCommand
from apps.users.aggregates import (
    MAX_WATCHLIST,
    NotWatched,
    Profile,
    ProfileErasedError,
    stream_id_for,
)
from apps.users.events import (
    NotificationPreferencesChanged,
    ProductUnwatched,
    ProductWatched,
    ProfileCreated,
    ProfileErased,
    ProfileUpdated,
)
from tests.support.given import given, recorded

ID = "0b7c6a1e-0000-4000-8000-000000000002"
P1 = "11111111-1111-4111-8111-111111111111"
SID = stream_id_for(ID)
CREATED = ProfileCreated(profile_id=ID)


def test_create_records_defaults() -> None:
    profile = Profile.create(ID)
    assert recorded(profile) == [CREATED]
    assert profile.kinds == ["welcome", "price_drop", "low_stock"]


def test_update_records_all_editable_fields_after_the_change() -> None:
    profile = given(Profile, SID, CREATED)
    profile.update(display_name="Ada", time_zone="Europe/London")
    assert recorded(profile) == [
        ProfileUpdated(
            profile_id=ID,
            display_name="Ada",
            bio="",
            locale="en",
            time_zone="Europe/London",
            avatar_url="",
        )
    ]


def test_update_that_changes_nothing_records_nothing() -> None:
    profile = given(Profile, SID, CREATED)
    profile.update(locale="en")
    assert recorded(profile) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"locale": "english!"}, "unknown locale"),
        ({"email": "x@example.com"}, "not editable"),
    ],
)
def test_update_refuses_bad_values(changes: dict[str, str], message: str) -> None:
    profile = given(Profile, SID, CREATED)
    with pytest.raises(InvalidCommand, match=message):
        profile.update(**changes)


def test_set_preferences_records_them_in_canonical_order_and_refuses_unknown_ones() -> None:
    profile = given(Profile, SID, CREATED)
    profile.set_preferences(kinds=["price_drop", "welcome"], channels=["inbox"])
    assert recorded(profile) == [
        NotificationPreferencesChanged(
            profile_id=ID, kinds=("welcome", "price_drop"), channels=("inbox",)
        )
    ]
    with pytest.raises(InvalidCommand, match="unknown channels"):
        profile.set_preferences(kinds=[], channels=["pigeon"])
    with pytest.raises(InvalidCommand, match="unknown notification kinds"):
        profile.set_preferences(kinds=["spam"], channels=[])


def test_watch_is_idempotent_and_bounded() -> None:
    profile = given(Profile, SID, CREATED)
    profile.watch(P1)
    profile.watch(P1)
    assert recorded(profile) == [ProductWatched(profile_id=ID, product_id=P1)]
    full = given(
        Profile,
        SID,
        CREATED,
        *[ProductWatched(profile_id=ID, product_id=str(i)) for i in range(MAX_WATCHLIST)],
    )
    with pytest.raises(InvalidCommand, match="at most"):
        full.watch(P1)


def test_unwatch_records_it_and_refuses_a_product_not_watched() -> None:
    profile = given(Profile, SID, CREATED, ProductWatched(profile_id=ID, product_id=P1))
    profile.unwatch(P1)
    assert recorded(profile) == [ProductUnwatched(profile_id=ID, product_id=P1)]
    with pytest.raises(NotWatched):
        profile.unwatch(P1)


def test_erase_clears_personal_fields_and_then_refuses_changes() -> None:
    profile = given(
        Profile,
        SID,
        CREATED,
        ProfileUpdated(
            profile_id=ID, display_name="Ada", bio="b", locale="en", time_zone="UTC", avatar_url=""
        ),
    )
    profile.erase()
    profile.erase()  # a repeated erasure records nothing more
    assert recorded(profile) == [ProfileErased(profile_id=ID)]
    assert profile.display_name == "" and profile.bio == ""
    commands: list[Callable[[Profile], None]] = [
        lambda p: p.update(bio="x"),
        lambda p: p.watch(P1),
        lambda p: p.set_preferences(kinds=[], channels=[]),
        lambda p: p.unwatch(P1),
    ]
    for command in commands:
        with pytest.raises(ProfileErasedError):
            command(profile)
