"""Payments: the provider behind an adapter, its signed callbacks, and the side effect that asks
it to take a payment.

- `Payments` (a side effect on PaymentRequested, once per event, with the engine's retries) asks
  the installed provider (`install`, from config/wiring.py) to take the payment. A replay never
  runs it, so never asks twice.
- The provider answers later on the webhook (`POST /api/v1/payments/callback/`): a JSON body
  `{"payment_id", "order_id", "outcome": "paid"|"declined", "reason"?}` signed with
  HMAC-SHA256 under PAYMENTS_WEBHOOK_SECRET in `X-Signature: sha256=<hex>`. `receive_callback`
  checks the signature, then records the outcome on the order, once: a forged signature, an
  unknown payment, a repeated or late callback get a 4xx and change nothing.
- `SimulatedProvider`, the one the project runs itself: it answers through a Celery task
  (`orders.payment_callback`), in-process or over HTTP to PAYMENTS_CALLBACK_URL when set, as a
  test card would: by the last two digits of the amount (in minor units) of the payment's first
  currency: ..13 declined, ..55 slow (PAYMENTS_SLOW_SECONDS), ..77 never answered (the payment
  times out), ..99 answered twice; any other, paid. PAYMENTS_SIMULATED_OUTCOME forces one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Protocol

from celery import current_app
from django.conf import settings

from apps.orders import commands as c
from apps.orders.aggregates import Order
from apps.orders.events import PaymentRequested
from apps.shared import bus
from apps.shared.bus import Context
from apps.shared.errors import DomainError
from eventstore.events import EventEnvelope
from eventstore.idempotency import CommandResult
from eventstore.projection import SideEffect, handles
from eventstore.queues import broker_countdown
from eventstore.repository import AggregateNotFound

OUTCOMES = ("paid", "declined")
SIMULATED = ("paid", "declined", "slow", "timeout", "duplicate")


@dataclass(frozen=True)
class PaymentRequest:
    payment_id: str
    order_id: str
    totals: tuple[tuple[str, int], ...]


class PaymentProvider(Protocol):
    def request(self, payment: PaymentRequest) -> None:
        """Ask for the payment; the outcome comes later, on the webhook."""


class InvalidSignature(DomainError):
    status = 401
    code = "invalid_signature"


class UnknownPayment(DomainError):
    status = 404
    code = "unknown_payment"


class AlreadyRecorded(DomainError):
    code = "already_recorded"


class BadCallback(DomainError):
    status = 400
    code = "invalid"


def sign(body: bytes) -> str:
    digest = hmac.new(settings.PAYMENTS_WEBHOOK_SECRET.encode(), body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def receive_callback(body: bytes, signature: str) -> CommandResult:
    """Record a provider's answer on its order, once (see the module's docstring)."""
    if not hmac.compare_digest(sign(body), signature or ""):
        raise InvalidSignature("the callback's signature does not match its body")
    try:
        answer = json.loads(body)
        payment, order_id, outcome = answer["payment_id"], answer["order_id"], answer["outcome"]
    except (ValueError, KeyError, TypeError):
        raise BadCallback("the callback is not a payment answer") from None
    if outcome not in OUTCOMES or not isinstance(payment, str) or not isinstance(order_id, str):
        raise BadCallback(f"the callback's outcome must be one of {', '.join(OUTCOMES)}")
    try:
        order = bus.current().load(Order, order_id)
    except AggregateNotFound:
        raise UnknownPayment(f"no payment {payment} for order {order_id}") from None
    if order.payment_id != payment:
        raise UnknownPayment(f"no payment {payment} for order {order_id}")
    done = {"paid": ("paid", "fulfilling", "fulfilled"), "declined": ("payment_failed",)}
    if order.state in done[outcome]:
        raise AlreadyRecorded(f"payment {payment} is {outcome} already")
    ctx = Context(actor="payments", idempotency_key=f"{payment}:{outcome}")
    if outcome == "paid":
        return bus.dispatch(c.ConfirmPayment(order_id, payment), ctx)
    reason = str(answer.get("reason") or "declined by the provider")
    return bus.dispatch(c.FailPayment(order_id, payment, reason), ctx)


def simulated_outcome(payment: PaymentRequest) -> str:
    forced = settings.PAYMENTS_SIMULATED_OUTCOME
    if forced:
        return str(forced)
    amount = payment.totals[0][1] if payment.totals else 0
    return {13: "declined", 55: "slow", 77: "timeout", 99: "duplicate"}.get(amount % 100, "paid")


def callback_body(payment: PaymentRequest, outcome: str) -> bytes:
    answer: dict[str, Any] = {
        "payment_id": payment.payment_id,
        "order_id": payment.order_id,
        "outcome": outcome,
    }
    if outcome == "declined":
        answer["reason"] = "declined by the simulated provider"
    return json.dumps(answer).encode()


class SimulatedProvider:
    """Answers through the `orders.payment_callback` task (apps/orders/tasks.py)."""

    def request(self, payment: PaymentRequest) -> None:
        outcome = simulated_outcome(payment)
        if outcome == "timeout":
            return
        delay = settings.PAYMENTS_SIMULATED_DELAY
        if outcome == "slow":
            delay = settings.PAYMENTS_SLOW_SECONDS
        answer = "declined" if outcome == "declined" else "paid"
        body = callback_body(payment, answer).decode()
        for n in range(2 if outcome == "duplicate" else 1):
            wait = broker_countdown(delay + n * 0.2)
            current_app.send_task("orders.payment_callback", args=[body], countdown=wait)


_provider: PaymentProvider | None = None


def install(provider: PaymentProvider | None) -> PaymentProvider | None:
    global _provider
    previous, _provider = _provider, provider
    return previous


def provider() -> PaymentProvider:
    if _provider is None:
        raise RuntimeError("no payment provider is installed: config.wiring.wire() installs it")
    return _provider


class Payments(SideEffect):
    name = "orders.payments"
    topics = ("orders",)

    @handles(PaymentRequested)
    def ask_the_provider(self, envelope: EventEnvelope) -> None:
        e: PaymentRequested = envelope.payload
        provider().request(PaymentRequest(e.payment_id, e.order_id, e.totals))
