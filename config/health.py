"""Readiness checks of the four servers the project depends on.

Each check makes a real round trip (a query, a PING, an AMQP login, a Kafka metadata call) and
returns None when healthy, or a short reason. They run concurrently, each bounded by a timeout,
so /readyz answers in about one timeout even when every server hangs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import psycopg
import redis
from django.conf import settings
from kombu import Connection
from redis.backoff import NoBackoff
from redis.retry import Retry

Check = Callable[[float], str | None]

START_HINT = "make stack-up"


def check_postgres(timeout: float) -> str | None:
    db = settings.DATABASES["default"]
    # A fresh connection, not Django's: a health check must not poison the request's connection.
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        connect_timeout=max(1, int(timeout)),
    ) as conn:
        conn.execute("SELECT 1")
    return None


def check_redis(timeout: float) -> str | None:
    client = redis.Redis(
        host=settings.REDIS_HOST,
        port=settings.REDIS_PORT,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    finally:
        client.close()
    return None


def check_rabbitmq(timeout: float) -> str | None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=max(1, round(timeout)))
    return None


def check_kafka(timeout: float) -> str | None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(
        {
            "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
            "socket.timeout.ms": int(timeout * 1000),
        }
    )
    meta = admin.list_topics(timeout=timeout)
    if not meta.brokers:
        return "no broker in metadata"
    return None


CHECKS: dict[str, Check] = {
    "postgres": check_postgres,
    "redis": check_redis,
    "rabbitmq": check_rabbitmq,
    "kafka": check_kafka,
}

ADDRESSES: dict[str, Callable[[], str]] = {
    "postgres": lambda: f"{settings.POSTGRES_HOST}:{settings.POSTGRES_PORT}",
    "redis": lambda: f"{settings.REDIS_HOST}:{settings.REDIS_PORT}",
    "rabbitmq": lambda: f"{settings.RABBITMQ_HOST}:{settings.RABBITMQ_PORT}",
    "kafka": lambda: settings.KAFKA_BOOTSTRAP_SERVERS,
}


def _run(check: Check, timeout: float) -> str | None:
    try:
        return check(timeout)
    except Exception as exc:  # noqa: BLE001 - any failure is "down", with its reason
        return f"{type(exc).__name__}: {exc}".strip()[:300]


def check_all(
    timeout: float | None = None, names: list[str] | None = None
) -> dict[str, str | None]:
    """{server: None if up else reason}, all checked concurrently."""
    timeout = timeout or settings.READYZ_TIMEOUT_SECONDS
    selected = {n: CHECKS[n] for n in (names or CHECKS)}
    pool = ThreadPoolExecutor(max_workers=len(selected), thread_name_prefix="readyz")
    futures = {name: pool.submit(_run, check, timeout) for name, check in selected.items()}
    results: dict[str, str | None] = {}
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=timeout + 1.0)
        except FutureTimeout:
            results[name] = f"no answer within {timeout:.1f}s"
    pool.shutdown(wait=False, cancel_futures=True)
    return results
