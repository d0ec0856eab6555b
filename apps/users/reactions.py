"""The users module's reactions to accounts events, run once per event by the projection
engine's side-effect jobs (never during a replay): a profile is born with its account and
erased with it."""

from __future__ import annotations

from apps.accounts.events import AccountErased, AccountRegistered
from apps.accounts.public import account_exists
from apps.shared.commands import Context
from apps.users import services
from eventstore.events import EventEnvelope
from eventstore.projection import SideEffect, handles


def _ctx(envelope: EventEnvelope) -> Context:
    return Context(
        actor="users.reactions", correlation_id=envelope.correlation_id or envelope.event_id
    )


class ProfileLifecycle(SideEffect):
    name = "users.profile_lifecycle"
    topics = ("accounts",)

    @handles(AccountRegistered)
    def create_profile_for_new_account(self, envelope: EventEnvelope) -> None:
        # An account erased before this job ran gets no profile (the jobs may run out of order).
        if account_exists(envelope.stream_id):
            services.create_profile(profile_id=envelope.stream_id, ctx=_ctx(envelope))

    @handles(AccountErased)
    def erase_profile_of_erased_account(self, envelope: EventEnvelope) -> None:
        services.erase_profile(profile_id=envelope.stream_id, ctx=_ctx(envelope))
