"""Reactions to other modules' events: welcome, price drop for watchers, low stock for staff, and
a customer's order confirmed, its payment failed, the order on its way (these last are told
whatever kinds the person chose, on the channels they chose).

A reaction (eventstore.reaction), not a read model: it decides who is told what, so a replay
never runs it again. It reads the accounts, users, products and orders events in the store's log
order and keeps its own facts from them (who watches which product, each person's preferences,
who is staff, each product's name, whose each order is), so that each decision is made on the
facts as of its event: a watch recorded before a price drop is told of it, one recorded after is
not, however far the read models lag and whatever happened since. Each notification's id derives
from (event, person, kind), so an operator's re-run creates nothing new; sending is a side
effect of the notification (`delivery.py`), never of a replay.
"""

from __future__ import annotations

import contextlib

from django.conf import settings

from apps.accounts.events import (
    AccountErased,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    RoleGranted,
    RoleRevoked,
)
from apps.notifications.aggregates import CHANNELS, KINDS
from apps.notifications.commands import Notify
from apps.orders.events import OrderFulfilled, OrderPaid, OrderPlaced, PaymentFailed
from apps.products.events import PriceChanged, ProductCreated, ProductRenamed, StockReserved
from apps.shared import bus
from apps.shared.bus import Context
from apps.users.events import (
    NotificationPreferencesChanged,
    ProductUnwatched,
    ProductWatched,
    ProfileCreated,
    ProfileErased,
)
from eventstore.errors import ConcurrencyError
from eventstore.events import EventEnvelope
from eventstore.reaction import Facts, Reaction, reacts_to, remembers

STAFF_ROLES = ("staff", "admin")
# Kinds a person is told of whatever kinds they chose (on the channels they chose): their orders.
TRANSACTIONAL = ("order",)


def _ctx(e: EventEnvelope) -> Context:
    return Context(actor="notifications.reactions", correlation_id=e.correlation_id or e.event_id)


def _channels(facts: Facts, account_id: str, kind: str) -> tuple[str, ...]:
    """The channels a person wanted this kind on, as of the event (none: they did not)."""
    pref = facts.get("preferences", account_id)
    if pref is None:
        return CHANNELS  # no preferences yet: the defaults (everything)
    if kind not in pref["kinds"] and kind not in TRANSACTIONAL:
        return ()
    return tuple(ch for ch in CHANNELS if ch in pref["channels"])


def _notify(
    facts: Facts,
    e: EventEnvelope,
    recipient: str,
    kind: str,
    subject: str,
    body: str,
    only: tuple[str, ...] = CHANNELS,
) -> None:
    assert kind in KINDS
    channels = tuple(ch for ch in _channels(facts, recipient, kind) if ch in only)
    if channels:
        command = Notify(recipient, kind, subject, body, channels, str(e.event_id))
        with contextlib.suppress(ConcurrencyError):  # told already (a re-run of this event)
            bus.dispatch(command, _ctx(e))


class Notifier(Reaction):
    name = "notifications.reactions"
    topics = ("accounts", "users", "products", "orders")

    # ------------------------------------------------------------------ facts

    @remembers(ProfileCreated, NotificationPreferencesChanged)
    def _preferences(self, facts: Facts, e: EventEnvelope) -> None:
        p = e.payload
        facts.put(
            "preferences",
            p.profile_id,
            value={"kinds": list(p.kinds), "channels": list(p.channels)},
        )

    @remembers(ProductWatched)
    def _watched(self, facts: Facts, e: EventEnvelope) -> None:
        facts.put("watchers", e.payload.product_id, e.payload.profile_id)

    @remembers(ProductUnwatched)
    def _unwatched(self, facts: Facts, e: EventEnvelope) -> None:
        facts.drop("watchers", e.payload.product_id, e.payload.profile_id)

    @remembers(ProductCreated, ProductRenamed)
    def _named(self, facts: Facts, e: EventEnvelope) -> None:
        facts.put("product_name", e.payload.product_id, value=e.payload.name)

    @remembers(RoleGranted)
    def _granted(self, facts: Facts, e: EventEnvelope) -> None:
        if e.payload.role in STAFF_ROLES:
            facts.put("role", e.payload.role, e.stream_id)

    @remembers(RoleRevoked)
    def _revoked(self, facts: Facts, e: EventEnvelope) -> None:
        facts.drop("role", e.payload.role, e.stream_id)

    @remembers(AccountLocked)
    def _locked(self, facts: Facts, e: EventEnvelope) -> None:
        facts.put("locked", e.stream_id)

    @remembers(AccountUnlocked)
    def _unlocked(self, facts: Facts, e: EventEnvelope) -> None:
        facts.drop("locked", e.stream_id)

    @remembers(ProfileErased, AccountErased)
    def _erased(self, facts: Facts, e: EventEnvelope) -> None:
        facts.forget(getattr(e.payload, "account_id", None) or e.payload.profile_id)

    def _staff(self, facts: Facts) -> list[str]:
        staff = {a for role in STAFF_ROLES for a in facts.keys("role", role)}
        return sorted(a for a in staff if not facts.get("locked", a))

    # ------------------------------------------------------------------ decisions

    @reacts_to(AccountRegistered)
    def send_welcome_notification(self, facts: Facts, e: EventEnvelope) -> None:
        # An email only: the inbox is for news about products, not the account's birth.
        _notify(
            facts,
            e,
            e.stream_id,
            "welcome",
            "Welcome!",
            "Your account is ready. Happy shopping.",
            only=("email",),
        )

    @remembers(AccountRegistered)
    def _registered(self, facts: Facts, e: EventEnvelope) -> None:
        for role in e.payload.roles:
            if role in STAFF_ROLES:
                facts.put("role", role, e.stream_id)

    @reacts_to(PriceChanged)
    def notify_watchers_of_price_drop(self, facts: Facts, e: EventEnvelope) -> None:
        p: PriceChanged = e.payload
        if not p.dropped:
            return
        watchers = facts.keys("watchers", p.product_id)
        if not watchers:
            return  # (the name is not looked up for nobody)
        name = facts.get("product_name", p.product_id) or "A product you watch"
        for account_id in watchers:
            _notify(
                facts,
                e,
                account_id,
                "price_drop",
                f"Price drop: {name}"[:200],
                f"{name} now costs {p.new_price} {p.currency} (was {p.old_price}).",
            )

    @remembers(OrderPlaced)
    def _ordered(self, facts: Facts, e: EventEnvelope) -> None:
        # Keyed by the customer, so that their erasure forgets it with the rest of their facts.
        facts.put("orders_of", e.payload.customer_id, e.stream_id)

    @reacts_to(OrderPaid, PaymentFailed, OrderFulfilled)
    def tell_the_customer_how_their_order_goes(self, facts: Facts, e: EventEnvelope) -> None:
        short = e.stream_id[:8]
        subject, body = {
            OrderPaid: (
                f"Order {short} confirmed",
                "We have your payment; your order is being prepared.",
            ),
            PaymentFailed: (
                f"Payment failed for order {short}",
                f"Your order was not paid ({getattr(e.payload, 'reason', '')}); nothing is "
                "charged and the products are back on sale.",
            ),
            OrderFulfilled: (f"Order {short} is on its way", "Your order is ready and shipped."),
        }[type(e.payload)]
        for customer in facts.subjects("orders_of", e.stream_id):
            _notify(facts, e, customer, "order", subject, body)

    @reacts_to(StockReserved)
    def notify_staff_of_low_stock(self, facts: Facts, e: EventEnvelope) -> None:
        p: StockReserved = e.payload
        threshold = settings.PRODUCTS_LOW_STOCK_THRESHOLD
        if not p.stock_after < threshold <= p.stock_after + p.quantity:
            return  # only when the stock crosses the threshold
        name = facts.get("product_name", p.product_id) or p.product_id
        for account_id in self._staff(facts):
            _notify(
                facts,
                e,
                account_id,
                "low_stock",
                f"Low stock: {name}"[:200],
                f"{name} is down to {p.stock_after} (threshold {threshold}).",
            )
