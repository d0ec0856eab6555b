"""The users read models through the API once the engine has applied the events: the staff
directory's search, filters, ordering and cursor pages; idempotent writes; the admin."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from apps.accounts import commands as accounts
from apps.accounts.models import AccountRecord
from apps.shared.bus import current, dispatch
from apps.users import commands as users
from apps.users.aggregates import Profile, stream_id_for
from apps.users.models import DirectoryEntry
from eventstore.runtime import get_store
from tests.support.accounts import Person, person
from tests.support.engine import catch_up_all_partitions, relay

pytestmark = pytest.mark.django_db(transaction=True)


def named(name: str, *roles: str) -> Person:
    p = person(*roles)
    dispatch(
        users.UpdateProfile(profile_id=p.account_id, changes=tuple({"display_name": name}.items()))
    )
    return p


def caught_up(*names: str) -> None:
    relay()
    for name in names:
        catch_up_all_partitions(name)


def test_directory_search_filters_order_and_pages() -> None:
    tag = uuid.uuid4().hex[:6]
    ada = named(f"Ada {tag}")
    grace = named(f"Grace {tag}", "staff")
    named(f"Linus {tag}")
    dispatch(accounts.LockAccount(account_id=ada.account_id, reason="x"))
    caught_up("users.directory")
    staff = grace.client()
    url = reverse("user-directory")

    def names(**query: str) -> list[str]:
        response = staff.get(url, {"search": tag, **query})
        assert response.status_code == 200, response.json()
        return [r["display_name"] for r in response.json()["results"]]

    assert names(ordering="display_name") == [f"Ada {tag}", f"Grace {tag}", f"Linus {tag}"]
    assert names(ordering="-display_name")[0] == f"Linus {tag}"
    assert names(role="staff") == [f"Grace {tag}"]
    assert names(locked="true") == [f"Ada {tag}"]
    assert names(search=ada.email.upper()) == [f"Ada {tag}"]

    first = staff.get(url, {"search": tag, "ordering": "display_name", "page_size": "2"}).json()
    assert [r["display_name"] for r in first["results"]] == [f"Ada {tag}", f"Grace {tag}"]
    second = staff.get(first["next"]).json()
    assert [r["display_name"] for r in second["results"]] == [f"Linus {tag}"]


def test_directory_drops_an_erased_person_and_a_late_event_does_not_bring_them_back() -> None:
    tag = uuid.uuid4().hex[:6]
    gone = named(f"Gone {tag}")
    staff = person("staff")
    dispatch(accounts.EraseAccount(account_id=gone.account_id))
    caught_up("users.directory")  # the profile's name change is applied after the erasure
    response = staff.client().get(reverse("user-directory"), {"search": tag})
    assert response.json()["results"] == []
    rows = list(DirectoryEntry.objects.filter(account_id=gone.account_id).values())
    assert [(r["erased"], r["email"], r["display_name"]) for r in rows] == [(True, "", "")]


def test_a_repeated_write_with_the_same_idempotency_key_writes_once() -> None:
    me = person()
    client = me.client()
    url = reverse("profile-me")
    key = "save-bio-1"
    stream = stream_id_for(me.account_id)
    first = client.patch(url, {"bio": "once"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    # Another write in between: were the repeat run again, it would change the bio back.
    assert client.patch(url, {"bio": "meanwhile"}, format="json").status_code == 200
    events = len(get_store().read(stream))
    again = client.patch(url, {"bio": "once"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert len(get_store().read(stream)) == events  # nothing written
    assert current().load(Profile, stream).bio == "meanwhile"
    other = client.patch(url, {"bio": "twice"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_admin_lists_accounts_shows_history_and_its_actions_issue_commands() -> None:
    admin = person("staff", "admin")
    target = person()
    client = admin.client()
    client.force_login(admin.user)
    listing = client.get("/admin/accounts/accountrecord/", {"q": target.email})
    assert listing.status_code == 200 and target.email in listing.content.decode()
    detail = client.get(f"/admin/accounts/accountrecord/{target.account_id}/change/")
    assert detail.status_code == 200 and "accounts.AccountRegistered" in detail.content.decode()
    response = client.post(
        "/admin/accounts/accountrecord/",
        {"action": "lock", "_selected_action": [target.account_id]},
    )
    assert response.status_code == 302
    assert AccountRecord.objects.get(account_id=target.account_id).locked
    assert client.get("/admin/auth/user/").status_code == 404  # no direct edits of users
    staff = person("staff")
    staff_client = staff.client()
    staff_client.force_login(staff.user)
    staff_client.post(
        "/admin/accounts/accountrecord/",
        {"action": "grant_admin", "_selected_action": [staff.account_id]},
    )
    assert "admin" not in AccountRecord.objects.get(account_id=staff.account_id).roles
