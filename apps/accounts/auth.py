"""Authentication: log in with the account's email (any case) and password (EmailBackend);
requests carry a bearer token (TokenAuthentication, the API's).

Both read the user table (the inline projection) and never write it: Django's own
`User.check_password` would re-hash and save on a hasher upgrade, bypassing the events.
"""

from __future__ import annotations

import functools
import threading
import time
from datetime import timedelta
from typing import Any

from cachetools import TLRUCache
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection
from django.db.models import Field
from django.http import HttpRequest
from django.utils.translation import gettext as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from eventstore.postgres import server_cursor


class EmailBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        **kwargs: Any,
    ) -> Any:
        email = email or username
        if not email or password is None:
            return None
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            make_password(password)  # the same work as a real check: no timing oracle
            return None
        if check_password(password, user.password) and self.user_can_authenticate(user):
            return user
        return None


def find_user(email: str) -> Any:
    """The user with this email (any case), active or not; None if there is none."""
    return get_user_model().objects.filter(email__iexact=email.strip()).first()


class TokenAuthentication(JWTAuthentication):
    """simplejwt's bearer-token authentication, with the same checks, answers and errors, at
    about a third of its cost per request (it was the largest part of a command's time in the
    web process, twice the command's own):

    - a token this process has validated is not decoded again until it expires (its signature
      and claims cannot change; access tokens are never blacklisted, only refresh tokens are):
      up to TOKEN_CACHE_SIZE of them, the least recently used dropped first;
    - the account is read with one fixed statement instead of a query the ORM builds anew
      each time. It is still read on every request: the user table is the accounts' inline
      projection, so a role taken away or an account deactivated counts at the next request.
    """

    def get_validated_token(self, raw_token: bytes) -> Token:
        with _lock:
            token = _validated.get(raw_token)
        if token is not None:
            return token
        token = super().get_validated_token(raw_token)
        exp = token.get("exp")
        if isinstance(exp, int | float):
            with _lock:
                _validated[raw_token] = token
        return token

    def get_user(self, validated_token: Token) -> Any:
        if api_settings.CHECK_REVOKE_TOKEN:  # (off here) simplejwt's own lookup and check
            return super().get_user(validated_token)
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken(_("Token contained no recognizable user identification")) from exc
        user = _user_by(str(user_id))
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        return user


TOKEN_CACHE_SIZE = 4096
_lock = threading.Lock()


def _expiry(_key: bytes, token: Token, _now: float) -> float:
    """When simplejwt would refuse the token: at exp plus SIMPLE_JWT's LEEWAY."""
    leeway = api_settings.LEEWAY
    seconds = leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)
    return float(token["exp"]) + seconds


_validated: TLRUCache[bytes, Token] = TLRUCache(
    maxsize=TOKEN_CACHE_SIZE, ttu=_expiry, timer=time.time
)


@functools.cache
def _user_statement() -> tuple[str, list[str]]:
    """SELECT every column of the user table WHERE the token's id field = %s, and the fields'
    attribute names, in order."""
    model = get_user_model()
    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    key = model._meta.get_field(api_settings.USER_ID_FIELD)
    assert isinstance(key, Field)
    columns = ", ".join(quote(f.column) for f in fields)
    sql = f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {quote(key.column)} = %s"  # noqa: S608 - names from the model
    return sql, [f.attname for f in fields]


def _user_by(user_id: str) -> Any:
    """The token's user, in one statement bound on the server: prepared after a few requests
    (POSTGRES_PREPARE_THRESHOLD), where Django's cursor quotes it into new SQL text each time."""
    sql, names = _user_statement()
    with connection.wrap_database_errors, server_cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    return None if row is None else get_user_model().from_db(connection.alias, names, row)


class TokenAuthenticationScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    """The same security scheme in the OpenAPI schema as simplejwt's (`jwtAuth`, bearer JWT)."""

    target_class = "apps.accounts.auth.TokenAuthentication"
