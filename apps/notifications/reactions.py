"""Reactions to other modules' events: welcome, price drop for watchers, low stock for staff.

They run as a projection (`notifications.reactions`) rather than a side effect: each reaction
creates its notifications in the engine's transaction, with the checkpoint, so it happens
exactly once per event, and an event whose reaction fails is parked as a dead letter (its
stream waits behind it, others go on) and redriven by the operator. Each notification's id is
derived from (event, person, kind), so running a reaction again (a replay, a redrive) creates
nothing new; and sending is a separate side effect, which a replay never runs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.accounts.events import AccountRegistered
from apps.accounts.public import staff_account_ids
from apps.notifications import services
from apps.notifications.aggregates import CHANNELS, KINDS
from apps.notifications.models import Preference, Watcher
from apps.products.events import PriceChanged, StockReserved
from apps.products.public import product_name
from apps.shared.commands import Context
from eventstore.events import EventEnvelope
from eventstore.projection import PostgresProjection, handles


def _ctx(e: EventEnvelope) -> Context:
    return Context(actor="notifications.reactions", correlation_id=e.correlation_id or e.event_id)


def _channels(account_id: str, kind: str) -> tuple[str, ...]:
    """The channels a person wants this kind on (none: they do not want it)."""
    pref = Preference.objects.filter(account_id=account_id).first()
    if pref is None:
        return CHANNELS  # no preferences yet: the defaults (everything)
    if kind not in pref.kinds:
        return ()
    return tuple(ch for ch in CHANNELS if ch in pref.channels)


def _notify(
    e: EventEnvelope,
    recipient: str,
    kind: str,
    subject: str,
    body: str,
    only: tuple[str, ...] = CHANNELS,
) -> None:
    assert kind in KINDS
    channels = tuple(ch for ch in _channels(recipient, kind) if ch in only)
    if channels:
        services.notify(
            recipient_id=recipient,
            kind=kind,
            subject=subject,
            body=body,
            channels=channels,
            source_event_id=str(e.event_id),
            ctx=_ctx(e),
        )


class Reactions(PostgresProjection):
    name = "notifications.reactions"
    topics = ("accounts", "products")

    @handles(AccountRegistered)
    def send_welcome_notification(self, cur: Any, e: EventEnvelope) -> None:
        # An email only: the inbox is for news about products, not the account's birth.
        _notify(
            e,
            e.stream_id,
            "welcome",
            "Welcome!",
            "Your account is ready. Happy shopping.",
            only=("email",),
        )

    @handles(PriceChanged)
    def notify_watchers_of_price_drop(self, cur: Any, e: EventEnvelope) -> None:
        p: PriceChanged = e.payload
        if not p.dropped:
            return
        name = product_name(p.product_id) or "A product you watch"
        watchers = Watcher.objects.filter(product_id=p.product_id).values_list(
            "account_id", flat=True
        )
        for account_id in watchers:
            _notify(
                e,
                account_id,
                "price_drop",
                f"Price drop: {name}"[:200],
                f"{name} now costs {p.new_price} {p.currency} (was {p.old_price}).",
            )

    @handles(StockReserved)
    def notify_staff_of_low_stock(self, cur: Any, e: EventEnvelope) -> None:
        p: StockReserved = e.payload
        threshold = settings.PRODUCTS_LOW_STOCK_THRESHOLD
        if not p.stock_after < threshold <= p.stock_after + p.quantity:
            return  # only when the stock crosses the threshold
        name = product_name(p.product_id) or p.product_id
        for account_id in staff_account_ids():
            _notify(
                e,
                account_id,
                "low_stock",
                f"Low stock: {name}"[:200],
                f"{name} is down to {p.stock_after} (threshold {threshold}).",
            )
