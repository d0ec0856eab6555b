"""The users module's reactions to accounts events: each one applied twice (an operator's
re-run), which must change nothing the second time."""

from __future__ import annotations

import pytest

from apps.accounts import commands as accounts
from apps.shared.bus import dispatch
from apps.users.aggregates import Profile, stream_id_for
from apps.users.events import ProfileCreated, ProfileErased
from apps.users.reactions import ProfileLifecycle
from eventstore.runtime import get_store
from tests.support.accounts import person
from tests.support.shop import NO_FACTS

pytestmark = pytest.mark.django_db


def events_of(account_id: str) -> list[object]:
    return [e.payload for e in get_store().read(stream_id_for(account_id))]


def last_envelope(stream_id: str):  # type: ignore[no-untyped-def]
    return get_store().read(stream_id)[-1]


def test_registration_creates_one_profile_however_often_the_reaction_runs() -> None:
    me = person(profile=False)
    registered = last_envelope(me.account_id)
    reactions = ProfileLifecycle()
    reactions.apply(NO_FACTS, registered)
    reactions.apply(NO_FACTS, registered)
    assert events_of(me.account_id) == [ProfileCreated(profile_id=me.account_id)]


def test_erasure_erases_the_profile_once() -> None:
    me = person()
    dispatch(accounts.EraseAccount(account_id=me.account_id))
    erased = last_envelope(me.account_id)
    reactions = ProfileLifecycle()
    reactions.apply(NO_FACTS, erased)
    reactions.apply(NO_FACTS, erased)
    assert events_of(me.account_id) == [
        ProfileCreated(profile_id=me.account_id),
        ProfileErased(profile_id=me.account_id),
    ]


def test_an_erasure_that_runs_before_the_creation_leaves_no_live_profile() -> None:
    """Applied out of order (an operator re-running the registration after the erasure): the
    late creation must not revive the person."""
    me = person(profile=False)
    registered = last_envelope(me.account_id)
    dispatch(accounts.EraseAccount(account_id=me.account_id))
    reactions = ProfileLifecycle()
    reactions.apply(NO_FACTS, last_envelope(me.account_id))
    reactions.apply(NO_FACTS, registered)
    assert events_of(me.account_id) == [
        ProfileCreated(profile_id=me.account_id),
        ProfileErased(profile_id=me.account_id),
    ]
    from apps.shared.bus import current

    assert current().load(Profile, stream_id_for(me.account_id)).erased
