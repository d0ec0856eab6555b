"""Logging in: JWT pairs with rotation and logout, throttling per IP and per account counted
in Redis, and lock-out after repeated failures recorded as an AccountLocked event."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django_redis import get_redis_connection

from apps.accounts.events import AccountLocked
from apps.accounts.login import LOCKOUT_REASON
from eventstore.runtime import get_store
from tests.support.accounts import PASSWORD, anonymous, person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    client = get_redis_connection("default")
    for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:login:*"):
        client.delete(key)
    yield


def login(email: str, password: str, ip: str = "10.0.0.1") -> object:
    return anonymous().post(
        reverse("auth-token"), {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_login_with_any_case_of_the_email_gives_a_working_token_pair() -> None:
    me = person()
    response = login(me.email.upper(), PASSWORD)
    assert response.status_code == 200, response.json()  # type: ignore[attr-defined]
    tokens = response.json()  # type: ignore[attr-defined]
    assert tokens["account_id"] == me.account_id
    client = anonymous()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get(reverse("account-me")).json()["id"] == me.account_id


def test_a_refresh_token_works_once_and_logout_blacklists_it() -> None:
    me = person()
    tokens = login(me.email, PASSWORD).json()  # type: ignore[attr-defined]
    url = reverse("auth-token-refresh")
    rotated = anonymous().post(url, {"refresh": tokens["refresh"]}, format="json")
    assert rotated.status_code == 200
    again = anonymous().post(url, {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401 and again.json()["error"]["code"] == "token_not_valid"
    new = rotated.json()
    assert (
        me.client()
        .post(reverse("auth-logout"), {"refresh": new["refresh"]}, format="json")
        .status_code
        == 204
    )
    after = anonymous().post(url, {"refresh": new["refresh"]}, format="json")
    assert after.status_code == 401


def test_wrong_passwords_and_unknown_emails_get_the_same_answer() -> None:
    me = person()
    wrong = login(me.email, "not the password")
    unknown = login(f"nobody-{uuid.uuid4().hex}@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert wrong.json() == unknown.json()  # type: ignore[attr-defined]


@override_settings(LOGIN_LOCKOUT_THRESHOLD=3, LOGIN_MAX_ATTEMPTS_PER_ACCOUNT=100)
def test_repeated_failures_lock_the_account_with_an_event() -> None:
    me = person()
    for _ in range(2):
        assert login(me.email, "wrong").status_code == 401  # type: ignore[attr-defined]
    events = [e.payload for e in get_store().read(me.account_id)]
    assert not any(isinstance(e, AccountLocked) for e in events)  # not before the threshold
    assert login(me.email, "wrong").status_code == 401  # type: ignore[attr-defined]
    events = [e.payload for e in get_store().read(me.account_id)]
    assert events[-1] == AccountLocked(account_id=me.account_id, reason=LOCKOUT_REASON)
    locked = login(me.email, PASSWORD)
    assert locked.status_code == 403  # type: ignore[attr-defined]
    assert locked.json()["error"]["code"] == "account_locked"  # type: ignore[attr-defined]


@override_settings(LOGIN_MAX_ATTEMPTS_PER_IP=4, LOGIN_MAX_ATTEMPTS_PER_ACCOUNT=100)
def test_too_many_attempts_from_one_address_are_throttled() -> None:
    me = person()
    for _ in range(4):  # the fourth is still allowed
        tried = login(f"nobody-{uuid.uuid4().hex}@example.com", "x", ip="10.9.9.9")
        assert tried.status_code == 401  # type: ignore[attr-defined]
    throttled = login(me.email, PASSWORD, ip="10.9.9.9")
    assert throttled.status_code == 429  # type: ignore[attr-defined]
    assert int(throttled["Retry-After"]) >= 1  # type: ignore[index]
    assert login(me.email, PASSWORD, ip="10.9.9.10").status_code == 200  # type: ignore[attr-defined]


@override_settings(LOGIN_MAX_ATTEMPTS_PER_ACCOUNT=3, LOGIN_LOCKOUT_THRESHOLD=100)
def test_too_many_attempts_against_one_account_are_throttled_from_any_address() -> None:
    me = person()
    for i in range(3):  # the third is still allowed
        assert login(me.email, "wrong", ip=f"10.1.1.{i}").status_code == 401  # type: ignore[attr-defined]
    assert login(me.email, PASSWORD, ip="10.2.2.2").status_code == 429  # type: ignore[attr-defined]


@override_settings(LOGIN_MAX_ATTEMPTS_PER_ACCOUNT=3, LOGIN_LOCKOUT_THRESHOLD=100)
def test_attempts_against_one_account_count_together_whatever_the_case_of_the_email() -> None:
    me = person()
    for i, variant in enumerate((me.email.upper(), me.email.title(), f"  {me.email}  ")):
        login(variant, "wrong", ip=f"10.3.3.{i}")
    assert login(me.email, PASSWORD, ip="10.4.4.4").status_code == 429  # type: ignore[attr-defined]


def test_a_locked_account_cannot_use_its_access_token() -> None:
    me = person()
    client = me.client()
    staff = person("staff")
    lock = staff.client().post(
        reverse("account-lock", kwargs={"account_id": me.account_id}),
        {"reason": "x"},
        format="json",
    )
    assert lock.status_code == 200
    assert client.get(reverse("account-me")).status_code == 401


def test_create_admin_makes_an_admin_who_can_log_in() -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    email = f"root-{uuid.uuid4().hex[:8]}@example.com"
    call_command("create_admin", email=email, password=PASSWORD, stdout=StringIO())
    tokens = login(email, PASSWORD).json()  # type: ignore[attr-defined]
    client = anonymous()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get(reverse("account-me")).json()["roles"] == ["customer", "staff", "admin"]
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_admin", email=email.upper(), password=PASSWORD, stdout=StringIO())
    with pytest.raises(CommandError, match="password refused"):
        call_command("create_admin", email=f"x{email}", password="123", stdout=StringIO())


def test_an_erased_accounts_email_can_register_again() -> None:
    me = person()
    url = reverse("account-register")
    body = {"email": me.email.upper(), "password": PASSWORD}
    assert anonymous().post(url, body, format="json").status_code == 409
    me.client().post(reverse("account-erase", kwargs={"account_id": me.account_id}))
    again = anonymous().post(url, body, format="json")
    assert again.status_code == 201 and again.json()["id"] != me.account_id


def test_staff_log_in_to_the_admin_with_their_email() -> None:
    staff = person("staff")
    client = Client()  # the admin's form, not the JSON API
    response = client.post(
        "/admin/login/?next=/admin/", {"username": staff.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    home = client.get("/admin/")
    assert home.status_code == 200
    assert staff.email.encode() in home.content  # greeted by email, not by account id
    assert staff.account_id.encode() not in home.content
    customer = person()
    refused = Client().post(
        "/admin/login/?next=/admin/", {"username": customer.email, "password": PASSWORD}
    )
    assert refused.status_code == 200  # the form again, with an error: not staff
