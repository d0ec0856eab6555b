"""The users module's read models: own profile and staff directory in Postgres, public profile
cards in Redis. Handlers are idempotent upserts keyed by id; the engine's checkpoints make each
event apply once."""

from __future__ import annotations

import json
from typing import Any

from apps.accounts.events import (
    AccountErased,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    RoleGranted,
    RoleRevoked,
)
from apps.users.events import (
    NotificationPreferencesChanged,
    ProductUnwatched,
    ProductWatched,
    ProfileCreated,
    ProfileErased,
    ProfileUpdated,
)
from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, RedisProjection, handles


class Profiles(PostgresProjection):
    name = "users.profiles"
    topics = ("users",)
    tables = ("users_profile",)

    @handles(ProfileCreated)
    def _created(self, cur: Any, e: EventEnvelope) -> None:
        p: ProfileCreated = e.payload
        cur.execute(
            "INSERT INTO users_profile (profile_id, display_name, bio, locale, time_zone, "
            "avatar_url, kinds, channels, watchlist, version, updated_at) "
            "VALUES (%s, '', '', %s, %s, '', %s, %s, '[]', %s, %s)",
            [
                e.payload.profile_id,
                p.locale,
                p.time_zone,
                json.dumps(list(p.kinds)),
                json.dumps(list(p.channels)),
                e.stream_version,
                e.occurred_at,
            ],
        )

    @handles(ProfileUpdated)
    def _updated(self, cur: Any, e: EventEnvelope) -> None:
        p: ProfileUpdated = e.payload
        self._set(
            cur,
            e,
            "display_name = %s, bio = %s, locale = %s, time_zone = %s, avatar_url = %s",
            [p.display_name, p.bio, p.locale, p.time_zone, p.avatar_url],
        )

    @handles(NotificationPreferencesChanged)
    def _preferences(self, cur: Any, e: EventEnvelope) -> None:
        p: NotificationPreferencesChanged = e.payload
        self._set(
            cur, e, "kinds = %s, channels = %s", [json.dumps(p.kinds), json.dumps(p.channels)]
        )

    @handles(ProductWatched)
    def _watched(self, cur: Any, e: EventEnvelope) -> None:
        self._set(
            cur, e, "watchlist = watchlist || jsonb_build_array(%s::text)", [e.payload.product_id]
        )

    @handles(ProductUnwatched)
    def _unwatched(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "watchlist = watchlist - %s::text", [e.payload.product_id])

    @handles(ProfileErased)
    def _erased(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute("DELETE FROM users_profile WHERE profile_id = %s", [e.payload.profile_id])

    @staticmethod
    def _set(cur: Any, e: EventEnvelope, assignments: str, params: list[Any]) -> None:
        cur.execute(
            f"UPDATE users_profile SET {assignments}, version = %s, updated_at = %s "  # noqa: S608 - fixed SQL
            "WHERE profile_id = %s",
            [*params, e.stream_version, e.occurred_at, e.payload.profile_id],
        )


def _person(e: EventEnvelope) -> str:
    """The person an accounts or users event is about (account id = profile id)."""
    return str(getattr(e.payload, "account_id", None) or e.payload.profile_id)


_UPSERT = (
    "INSERT INTO users_directory (account_id, email, display_name, roles, locked, erased, "
    "registered_at, updated_at) VALUES (%s, %s, %s, %s, false, false, %s, %s) "
    "ON CONFLICT (account_id) DO UPDATE SET {set}, updated_at = EXCLUDED.updated_at "
    "WHERE NOT users_directory.erased"
)


class Directory(PostgresProjection):
    name = "users.directory"
    topics = ("accounts", "users")
    tables = ("users_directory",)

    @handles(AccountRegistered)
    def _registered(self, cur: Any, e: EventEnvelope) -> None:
        p: AccountRegistered = e.payload
        cur.execute(
            _UPSERT.format(
                set="email = EXCLUDED.email, roles = EXCLUDED.roles, "
                "registered_at = EXCLUDED.registered_at"
            ),
            [_person(e), p.email, "", json.dumps(list(p.roles)), e.occurred_at, e.occurred_at],
        )

    @handles(ProfileUpdated)
    def _named(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            _UPSERT.format(set="display_name = EXCLUDED.display_name"),
            [e.payload.profile_id, "", e.payload.display_name, "[]", None, e.occurred_at],
        )

    @handles(RoleGranted)
    def _granted(self, cur: Any, e: EventEnvelope) -> None:
        self._set(
            cur,
            e,
            "roles = (roles - %s::text) || jsonb_build_array(%s::text)",
            [e.payload.role] * 2,
        )

    @handles(RoleRevoked)
    def _revoked(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "roles = roles - %s::text", [e.payload.role])

    @handles(AccountLocked, AccountUnlocked)
    def _locked(self, cur: Any, e: EventEnvelope) -> None:
        self._set(cur, e, "locked = %s", [isinstance(e.payload, AccountLocked)])

    @handles(AccountErased, ProfileErased)
    def _erased(self, cur: Any, e: EventEnvelope) -> None:
        cur.execute(
            "INSERT INTO users_directory (account_id, email, display_name, roles, locked, erased, "
            "registered_at, updated_at) VALUES (%s, '', '', '[]', false, true, NULL, %s) "
            "ON CONFLICT (account_id) DO UPDATE SET email = '', display_name = '', roles = '[]', "
            "locked = false, erased = true, updated_at = EXCLUDED.updated_at",
            [_person(e), e.occurred_at],
        )

    @staticmethod
    def _set(cur: Any, e: EventEnvelope, assignments: str, params: list[Any]) -> None:
        cur.execute(
            f"UPDATE users_directory SET {assignments}, updated_at = %s "  # noqa: S608 - fixed SQL
            "WHERE account_id = %s AND NOT erased",
            [*params, e.occurred_at, _person(e)],
        )


class ProfileCards(RedisProjection):
    """Public profile cards: one hash per profile, `<namespace>:card:<profile id>`."""

    name = "users.cards"
    topics = ("users",)

    @handles(ProfileCreated)
    def _created(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.hset(
            self.key("card", e.payload.profile_id),
            mapping={"display_name": "", "avatar_url": "", "locale": e.payload.locale},
        )

    @handles(ProfileUpdated)
    def _updated(self, pipe: Any, e: EventEnvelope) -> None:
        p: ProfileUpdated = e.payload
        pipe.hset(
            self.key("card", e.payload.profile_id),
            mapping={
                "display_name": p.display_name,
                "avatar_url": p.avatar_url,
                "locale": p.locale,
            },
        )

    @handles(ProfileErased)
    def _erased(self, pipe: Any, e: EventEnvelope) -> None:
        pipe.delete(self.key("card", e.payload.profile_id))
