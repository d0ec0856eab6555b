"""The API's bearer tokens (apps.accounts.auth.TokenAuthentication): a token the process has
validated once is not decoded again, yet it answers exactly as simplejwt's authentication does:
it stops working when it expires, a role taken away or an account locked counts at the next
request, and a forged or unknown token is refused with simplejwt's codes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts import commands as accounts
from apps.accounts.auth import TokenAuthentication
from apps.shared.bus import dispatch
from tests.support.accounts import anonymous, person

pytestmark = pytest.mark.django_db


def bearer(token: str) -> object:
    client = anonymous()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


NOBODY = "00000000-0000-4000-8000-000000000000"


def staff_only(client: object) -> int:
    """Someone else's account: staff may read it (here a 404: there is none), others not."""
    url = reverse("account-detail", kwargs={"account_id": NOBODY})
    return int(client.get(url).status_code)  # type: ignore[attr-defined]


def test_a_role_taken_away_or_an_account_locked_counts_at_the_next_request() -> None:
    staff = person("staff")
    client = staff.client()
    assert staff_only(client) == 404  # allowed: the account does not exist
    assert staff_only(client) == 404  # (the token is validated from the cache now)
    dispatch(accounts.RevokeRole(account_id=staff.account_id, role="staff"))
    assert staff_only(client) == 403
    dispatch(accounts.LockAccount(account_id=staff.account_id, reason="test"))
    answer = client.get(reverse("account-me"))
    assert answer.status_code == 401
    assert answer.json()["error"]["detail"] == "User is inactive"


def test_a_validated_token_stops_working_when_it_expires() -> None:
    me = person()
    token = AccessToken.for_user(me.user)
    token.set_exp(lifetime=timedelta(seconds=2))
    client = bearer(str(token))
    assert client.get(reverse("account-me")).status_code == 200  # type: ignore[attr-defined]
    while time.time() < token["exp"]:
        assert client.get(reverse("account-me")).status_code == 200  # type: ignore[attr-defined]
        time.sleep(0.2)
    answer = client.get(reverse("account-me"))  # type: ignore[attr-defined]
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token_not_valid"


def test_a_forged_token_is_refused_even_beside_its_validated_original() -> None:
    me = person()
    token = str(AccessToken.for_user(me.user))
    assert bearer(token).get(reverse("account-me")).status_code == 200  # type: ignore[attr-defined]
    header, payload, signature = token.split(".")
    other = str(AccessToken.for_user(person("admin").user)).split(".")[1]
    for forged in (f"{header}.{other}.{signature}", f"{header}.{payload}.{signature[:-2]}AA"):
        answer = bearer(forged).get(reverse("account-me"))  # type: ignore[attr-defined]
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "token_not_valid"


def test_the_same_answers_as_simplejwt_for_an_unknown_account() -> None:
    token = AccessToken()
    token["account_id"] = NOBODY
    answer = bearer(str(token)).get(reverse("account-me"))  # type: ignore[attr-defined]
    assert answer.status_code == 401
    assert answer.json()["error"]["detail"] == "User not found"
    refusals = []
    for authentication in (JWTAuthentication(), TokenAuthentication()):
        with pytest.raises(AuthenticationFailed) as refused:
            authentication.get_user(authentication.get_validated_token(str(token).encode()))
        refusals.append(refused.value.detail)
    assert refusals[0] == refusals[1]


def test_the_users_lookup_is_prepared_after_a_few_requests() -> None:
    """One statement per request, bound on the server, so Postgres plans it once per
    connection (POSTGRES_PREPARE_THRESHOLD); Django's cursors would send new SQL text each time."""
    from django.conf import settings
    from django.db import connection

    from apps.accounts.auth import _user_statement

    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    if threshold is None:
        pytest.skip("prepared statements are off (POSTGRES_PREPARE_THRESHOLD=none)")
    client = person().client()
    for _ in range(threshold + 2):
        assert client.get(reverse("account-me")).status_code == 200
    sql, _ = _user_statement()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
            [sql.replace("%s", "$1")],
        )
        assert cur.fetchone() == (1,)
