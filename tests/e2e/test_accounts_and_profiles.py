"""Over HTTP only, against the running web server, worker and relay: register, log in, update
the profile, read it back with the consistency token; erase, and find the person nowhere."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command

from tests.support.erasure import find_everywhere
from tests.support.http import Http, Reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "correct horse battery staple"


def sign_up(api: Http, email: str) -> str:
    registered = api.post("/api/v1/accounts/", {"email": email, "password": PASSWORD})
    assert registered.status == 201, registered
    assert registered.header("X-Consistency-Token") == registered.body["token"]
    login = api.post("/api/v1/auth/token/", {"email": email.upper(), "password": PASSWORD})
    assert login.status == 200, login
    api.bearer = login.body["access"]
    return str(registered.body["id"])


def update_profile(api: Http, changes: dict[str, str]) -> Reply:
    """The profile is made by a reaction to the registration, a moment later: until then the
    API answers 409 profile_pending with Retry-After, and the client retries."""
    reply = api.until(
        "the profile to exist",
        lambda: api.patch("/api/v1/profiles/me/", changes),
        lambda r: not (r.status == 409 and r.body["error"]["code"] == "profile_pending"),
    )
    assert reply.status == 200, reply
    return reply


def test_register_log_in_update_profile_and_read_it_back_with_the_token(
    live_system: Http,
) -> None:
    api = live_system
    account_id = sign_up(api, f"ada-{uuid.uuid4().hex[:8]}@example.com")
    written = update_profile(api, {"display_name": "Ada Lovelace", "time_zone": "Europe/London"})

    read = api.get("/api/v1/profiles/me/", headers={"X-Consistency-Token": written.body["token"]})
    assert read.status == 200, read
    assert read.header("X-Consistency") == "fresh"
    assert read.body["id"] == account_id
    assert read.body["display_name"] == "Ada Lovelace"
    assert read.body["time_zone"] == "Europe/London"
    assert read.header("ETag") == f'"{written.body["version"]}"'

    card = api.get(
        f"/api/v1/profiles/{account_id}/card/",
        headers={"X-Consistency-Token": written.body["token"]},
    )
    assert card.status == 200 and card.body["display_name"] == "Ada Lovelace", card


def test_erasure_leaves_no_personal_data_anywhere_even_after_a_replay(live_system: Http) -> None:
    api = live_system
    tag = uuid.uuid4().hex[:10]
    email, name, bio = f"zelda-{tag}@example.com", f"Zelda {tag}", f"Bio of {tag} Hyrule"
    account_id = sign_up(api, email)
    written = update_profile(api, {"display_name": name, "bio": bio})
    token = {"X-Consistency-Token": written.body["token"]}
    assert api.get("/api/v1/profiles/me/", headers=token).header("X-Consistency") == "fresh"
    assert api.get(f"/api/v1/profiles/{account_id}/card/", headers=token).status == 200
    secrets = [email, name, bio]
    # The scan finds them while they are there (so an empty scan later means something).
    assert find_everywhere(secrets, include_kafka=False), "the scan cannot see live data"

    erased = api.post(f"/api/v1/accounts/{account_id}/erase/")
    assert erased.status == 200, erased
    assert api.get("/api/v1/accounts/me/").status == 401  # the user is gone
    api.bearer = None
    api.until(
        "the profile to be purged",
        lambda: api.get(f"/api/v1/profiles/{account_id}/card/"),
        lambda r: r.status == 404,
    )
    _wait_for_purge(account_id)

    assert find_everywhere(secrets) == []
    call_command("replay_projections", "users.profiles", "users.directory", "users.cards")
    assert find_everywhere(secrets) == []


def _wait_for_purge(account_id: str) -> None:
    from django.db import connection

    from tests.support.pg import wait_for

    def purged() -> bool:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM users_profile WHERE profile_id = %s) + "
                "(SELECT count(*) FROM users_directory WHERE account_id = %s AND NOT erased)",
                [account_id, account_id],
            )
            return bool(cur.fetchone()[0] == 0)

    wait_for("the read models to purge the person", purged, 60)
