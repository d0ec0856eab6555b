"""The orders module's Celery tasks: firing due timers (celery beat), and the simulated payment
provider's callbacks."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

from celery import shared_task
from django.conf import settings

from apps.orders import payments, timers
from apps.shared.errors import DomainError

logger = logging.getLogger("orders")


@shared_task(name="orders.fire_timers", acks_late=True, ignore_result=True)
def fire_timers() -> int:
    return timers.fire_due()


@shared_task(
    name="orders.payment_callback",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(urllib.error.URLError, ConnectionError),
    retry_backoff=True,
    max_retries=8,
)
def payment_callback(body: str) -> str:
    """The simulated provider answers: over HTTP to PAYMENTS_CALLBACK_URL when set (as a real
    provider would), else in this process through the same checks as the webhook."""
    raw = body.encode()
    signature = payments.sign(raw)
    if settings.PAYMENTS_CALLBACK_URL:
        request = urllib.request.Request(  # noqa: S310 - a configured http(s) URL
            settings.PAYMENTS_CALLBACK_URL,
            data=raw,
            headers={"Content-Type": "application/json", "X-Signature": signature},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return str(response.status)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise urllib.error.URLError(f"the webhook answered {exc.code}") from exc
            return str(exc.code)  # refused: a 4xx is the answer, not worth a retry
    try:
        payments.receive_callback(raw, signature)
    except DomainError as exc:
        logger.info("payment callback refused: %s", exc)
        return exc.code
    return "recorded"
