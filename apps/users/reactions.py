"""The users module's reactions to accounts events: a profile is born with its account and
erased with it.

A reaction (eventstore.reaction): it issues commands, so a replay never runs it again; it reads
the accounts events in the store's log order, so an account's registration is always handled
before its erasure, and both commands are made once per event (a profile's stream id derives
from its account, so a re-run finds it there and creates nothing).
"""

from __future__ import annotations

import contextlib

from apps.accounts.events import AccountErased, AccountRegistered
from apps.shared import bus
from apps.shared.bus import Context
from apps.users.commands import CreateProfile, EraseProfile
from eventstore.errors import ConcurrencyError
from eventstore.events import EventEnvelope
from eventstore.reaction import Facts, Reaction, reacts_to


def _ctx(envelope: EventEnvelope) -> Context:
    return Context(
        actor="users.reactions", correlation_id=envelope.correlation_id or envelope.event_id
    )


class ProfileLifecycle(Reaction):
    name = "users.profile_lifecycle"
    topics = ("accounts",)

    @reacts_to(AccountRegistered)
    def create_profile_for_new_account(self, facts: Facts, envelope: EventEnvelope) -> None:
        with contextlib.suppress(ConcurrencyError):  # made already (a re-run), or erased first
            bus.dispatch(CreateProfile(envelope.stream_id), _ctx(envelope))

    @reacts_to(AccountErased)
    def erase_profile_of_erased_account(self, facts: Facts, envelope: EventEnvelope) -> None:
        bus.dispatch(EraseProfile(envelope.stream_id), _ctx(envelope))
