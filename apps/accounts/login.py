"""Logging in for the API: throttled per IP and per account in Redis, lock-out as an event.

Attempts are counted in fixed windows with INCR + EXPIRE (one round trip, atomic). Too many
attempts from an IP or against one account answer 429 before the password is checked.
Repeated failures against an existing account lock it: a LockAccount command records
AccountLocked, so the lock-out is in the account's history like any other lock.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import check_password
from django.http import HttpRequest
from django_redis import get_redis_connection

from apps.accounts.auth import find_user
from apps.accounts.commands import LockAccount
from apps.shared import bus
from apps.shared.errors import DomainError

LOCKOUT_REASON = "too many failed logins"


class Throttled(DomainError):
    status = 429
    code = "throttled"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LoginFailed(DomainError):
    status = 401
    code = "authentication_failed"


class AccountLockedOut(DomainError):
    status = 403
    code = "account_locked"


@dataclass(frozen=True)
class Login:
    user: Any


def _key(*parts: str) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, "login", *parts])


def _count(key: str, window: int) -> tuple[int, int]:
    client = get_redis_connection("default")
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, window, nx=True)
    pipe.ttl(key)
    count, _, ttl = pipe.execute()
    return int(count), max(int(ttl), 1)


def _digest(email: str) -> str:
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]


def log_in(request: HttpRequest, *, email: str, password: str) -> Login:
    window = settings.LOGIN_THROTTLE_WINDOW
    ip = request.META.get("REMOTE_ADDR", "unknown")
    count, ttl = _count(_key("ip", ip), window)
    if count > settings.LOGIN_MAX_ATTEMPTS_PER_IP:
        raise Throttled("too many login attempts from this address", ttl)
    count, ttl = _count(_key("account", _digest(email)), window)
    if count > settings.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT:
        raise Throttled("too many login attempts for this account", ttl)

    user = authenticate(request, email=email, password=password)
    if user is not None:
        get_redis_connection("default").delete(_key("failures", user.username))
        return Login(user)
    existing = find_user(email)
    if existing is None:
        raise LoginFailed("email or password is wrong")
    if not existing.is_active:
        if check_password(password, existing.password):
            raise AccountLockedOut("this account is locked")
        raise LoginFailed("email or password is wrong")
    failures, _ = _count(_key("failures", existing.username), settings.LOGIN_LOCKOUT_WINDOW)
    if failures >= settings.LOGIN_LOCKOUT_THRESHOLD:
        with contextlib.suppress(DomainError):  # locked meanwhile (another attempt, or staff)
            bus.dispatch(LockAccount(existing.username, LOCKOUT_REASON))
        get_redis_connection("default").delete(_key("failures", existing.username))
    raise LoginFailed("email or password is wrong")
