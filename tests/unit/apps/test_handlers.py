"""Every command of every module through the dispatcher, on the in-memory store: given events ->
command -> expected events (or the refusal), with no server; and what the bus does once for all
of them (If-Match, idempotency, retries on a lost race)."""

from __future__ import annotations

import dataclasses
import inspect
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password, make_password

from apps.accounts import commands as accounts
from apps.accounts.aggregates import STREAM_TYPE as ACCOUNT
from apps.accounts.aggregates import WrongPassword
from apps.accounts.events import (
    AccountErased,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    PasswordChanged,
    RoleGranted,
    RoleRevoked,
)
from apps.accounts.handlers import EMAIL_SCOPE, email_reservation
from apps.notifications import commands as notifications
from apps.notifications.aggregates import STREAM_TYPE as NOTIFICATION
from apps.notifications.aggregates import notification_id_for
from apps.notifications.events import (
    NotificationCreated,
    NotificationDelivered,
    NotificationDeliveryFailed,
    NotificationRead,
    NotificationResent,
)
from apps.notifications.handlers import NotYours
from apps.orders import commands as orders
from apps.orders.aggregates import STREAM_TYPE as ORDER
from apps.orders.aggregates import OrderClosed, WrongState
from apps.orders.events import (
    FulfilmentAttemptFailed,
    FulfilmentRetried,
    FulfilmentStarted,
    OrderCancelled,
    OrderFulfilled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRejected,
    OrderStockReserved,
    PaymentFailed,
    PaymentRequested,
)
from apps.orders.handlers import NotYours as NotTheirOrder
from apps.products import commands as products
from apps.products.aggregates import STREAM_TYPE as PRODUCT
from apps.products.events import (
    PriceChanged,
    ProductCreated,
    ProductDescribed,
    ProductDiscontinued,
    ProductPublished,
    ProductRenamed,
    ProductUnpublished,
    StockReceived,
    StockReleased,
    StockReserved,
)
from apps.products.handlers import SKU_SCOPE
from apps.shared.bus import Bus, Context, PreconditionFailed, handler_table
from apps.shared.errors import InvalidCommand
from apps.users import commands as users
from apps.users.aggregates import STREAM_TYPE as PROFILE_TYPE
from apps.users.aggregates import stream_id_for
from apps.users.events import (
    NotificationPreferencesChanged,
    ProductUnwatched,
    ProductWatched,
    ProfileCreated,
    ProfileErased,
    ProfileUpdated,
)
from apps.users.handlers import UnknownProduct
from config.wiring import HANDLERS
from eventstore.errors import ConcurrencyError, IdempotencyConflict, UniquenessError
from eventstore.memory import InMemoryEventStore
from eventstore.repository import AggregateNotFound
from tests.support.commands import Shop

ACC = "acc00000-0000-4000-8000-000000000001"
P = "5a1e0000-0000-4000-8000-000000000001"
N = "90700000-0000-4000-8000-000000000001"
R1 = "5a1e0000-0000-4000-8000-0000000000r1"
PROFILE = stream_id_for(ACC)
CREATED = ProductCreated(
    product_id=P, sku="SKU-1", name="Lamp", description="", price=Decimal("20.00"), currency="EUR"
)
NOTIFIED = NotificationCreated(
    notification_id=N,
    recipient_id=ACC,
    kind="price_drop",
    subject="Cheaper",
    body="It is",
    channels=("inbox", "email"),
    source_event_id="e1",
)


def registered(shop: Shop) -> None:
    hashed = make_password("old secret")
    shop.given(ACC, ACCOUNT, AccountRegistered(ACC, "ada@example.com", hashed))


# ------------------------------------------------------------------ accounts


def test_register_account_claims_the_email(shop: Shop) -> None:
    [event] = shop.when(accounts.RegisterAccount("Ada@Example.com ", "a secret"))
    assert isinstance(event, AccountRegistered)
    assert (event.email, event.roles) == ("Ada@Example.com", ("customer",))
    assert check_password("a secret", event.password_hash)
    holder = shop.store.reservation_holder(EMAIL_SCOPE, email_reservation("ada@example.com"))
    assert holder == event.account_id
    with pytest.raises(UniquenessError):
        shop.when(accounts.RegisterAccount("ADA@example.com", "another"))


def test_change_password_needs_the_old_one(shop: Shop) -> None:
    registered(shop)
    with pytest.raises(WrongPassword):
        shop.when(accounts.ChangePassword(ACC, "wrong", "new secret"))
    [event] = shop.when(accounts.ChangePassword(ACC, "old secret", "new secret"))
    assert isinstance(event, PasswordChanged)
    assert check_password("new secret", event.password_hash)


def test_grant_and_revoke_a_role(shop: Shop) -> None:
    registered(shop)
    assert shop.when(accounts.GrantRole(ACC, "staff")) == [RoleGranted(ACC, "staff")]
    assert shop.when(accounts.RevokeRole(ACC, "staff")) == [RoleRevoked(ACC, "staff")]


def test_lock_and_unlock(shop: Shop) -> None:
    registered(shop)
    assert shop.when(accounts.LockAccount(ACC, "too many")) == [AccountLocked(ACC, "too many")]
    assert shop.when(accounts.UnlockAccount(ACC)) == [AccountUnlocked(ACC)]


def test_erase_frees_the_email_and_forgets_the_key_with_the_erasure(shop: Shop) -> None:
    [registration] = shop.when(accounts.RegisterAccount("ada@example.com", "a secret"))
    ada = registration.account_id
    held = email_reservation("ada@example.com")
    assert shop.store.reservation_holder(EMAIL_SCOPE, held) == ada
    assert ada in shop.vault.keys
    assert shop.when(accounts.EraseAccount(ada)) == [AccountErased(ada)]
    assert shop.store.reservation_holder(EMAIL_SCOPE, held) is None
    assert ada not in shop.vault.keys


# ------------------------------------------------------------------ users


def test_create_profile_once(shop: Shop) -> None:
    assert shop.when(users.CreateProfile(ACC)) == [ProfileCreated(ACC)]
    with pytest.raises(ConcurrencyError):
        shop.when(users.CreateProfile(ACC))


def test_update_profile_and_preferences(shop: Shop) -> None:
    shop.given(PROFILE, PROFILE_TYPE, ProfileCreated(ACC))
    assert shop.when(users.UpdateProfile(ACC, (("display_name", "Ada"),))) == [
        ProfileUpdated(ACC, "Ada", "", "en", "UTC", "")
    ]
    preferences = users.SetNotificationPreferences(ACC, ("welcome",), ("email",))
    assert shop.when(preferences) == [NotificationPreferencesChanged(ACC, ("welcome",), ("email",))]


def test_watch_a_product_that_exists_once_and_unwatch_it(shop: Shop) -> None:
    shop.given(PROFILE, PROFILE_TYPE, ProfileCreated(ACC))
    with pytest.raises(UnknownProduct):
        shop.when(users.WatchProduct(ACC, P))
    with pytest.raises(UnknownProduct):  # an account is no product
        shop.given(ACC, ACCOUNT, AccountRegistered(ACC, "ada@example.com", "x"))
        shop.when(users.WatchProduct(ACC, ACC))
    shop.given(P, PRODUCT, CREATED)
    assert shop.when(users.WatchProduct(ACC, P)) == [ProductWatched(ACC, P)]
    assert shop.when(users.WatchProduct(ACC, P)) == []  # watched already: changes nothing
    assert shop.result is not None and shop.result.version == 2
    assert shop.when(users.UnwatchProduct(ACC, P)) == [ProductUnwatched(ACC, P)]


def test_erase_a_profile_or_start_it_erased(shop: Shop) -> None:
    shop.given(PROFILE, PROFILE_TYPE, ProfileCreated(ACC))
    assert shop.when(users.EraseProfile(ACC)) == [ProfileErased(ACC)]
    other = "acc00000-0000-4000-8000-000000000002"
    assert shop.when(users.EraseProfile(other)) == [ProfileCreated(other), ProfileErased(other)]
    with pytest.raises(ConcurrencyError):  # a creation that comes later creates nothing
        shop.when(users.CreateProfile(other))


# ------------------------------------------------------------------ products


def test_create_product_claims_the_sku_in_any_case(shop: Shop) -> None:
    command = products.CreateProduct(" SKU-1", "Lamp ", "", Decimal("20.00"), "EUR")
    [event] = shop.when(command)
    assert event == dataclasses.replace(CREATED, product_id=event.product_id)
    assert shop.store.reservation_holder(SKU_SCOPE, "SKU-1") == event.product_id
    with pytest.raises(UniquenessError):
        shop.when(products.CreateProduct("sku-1", "Other", "", Decimal(1), "EUR"))


def test_edit_product(shop: Shop) -> None:
    shop.given(P, PRODUCT, CREATED)
    assert shop.when(products.EditProduct(P, " Desk lamp", None)) == [
        ProductRenamed(P, "Desk lamp")
    ]
    assert shop.when(products.EditProduct(P, "Desk lamp", "Bright")) == [
        ProductDescribed(P, "Bright")
    ]


def test_change_price(shop: Shop) -> None:
    shop.given(P, PRODUCT, CREATED)
    assert shop.when(products.ChangePrice(P, Decimal("9.99"), "EUR")) == [
        PriceChanged(P, Decimal("20.00"), Decimal("9.99"), "EUR")
    ]


def test_receive_reserve_and_release_stock(shop: Shop) -> None:
    shop.given(P, PRODUCT, CREATED)
    assert shop.when(products.ReceiveStock(P, 5)) == [StockReceived(P, 5, 5)]
    assert shop.when(products.ReserveStock(P, R1, 2)) == [StockReserved(P, R1, 2, 3)]
    assert shop.when(products.ReleaseStock(P, R1)) == [StockReleased(P, R1, 2, 5)]


def test_set_availability(shop: Shop) -> None:
    shop.given(P, PRODUCT, CREATED)
    assert shop.when(products.SetAvailability(P, "publish")) == [ProductPublished(P)]
    assert shop.when(products.SetAvailability(P, "unpublish")) == [ProductUnpublished(P)]
    assert shop.when(products.SetAvailability(P, "discontinue")) == [ProductDiscontinued(P)]


# ------------------------------------------------------------------ notifications


def test_notify_once_per_event_person_and_kind(shop: Shop) -> None:
    command = notifications.Notify(ACC, "price_drop", "Cheaper", "It is", ("inbox", "email"), "e1")
    expected_id = notification_id_for("e1", ACC, "price_drop")
    assert shop.when(command) == [dataclasses.replace(NOTIFIED, notification_id=expected_id)]
    with pytest.raises(ConcurrencyError):
        shop.when(command)


def test_record_delivery_only_while_pending(shop: Shop) -> None:
    shop.given(N, NOTIFICATION, NOTIFIED)
    assert shop.when(notifications.RecordDelivery(N, "failed", "smtp down")) == [
        NotificationDeliveryFailed(N, ACC, "smtp down")
    ]
    assert shop.when(notifications.RecordDelivery(N, "delivered")) == []
    assert shop.when(notifications.Resend(N)) == [NotificationResent(N, ACC)]
    assert shop.when(notifications.RecordDelivery(N, "delivered")) == [
        NotificationDelivered(N, ACC, "email")
    ]


def test_mark_read_only_by_its_recipient(shop: Shop) -> None:
    shop.given(N, NOTIFICATION, NOTIFIED)
    with pytest.raises(NotYours):
        shop.when(notifications.MarkRead(N, "someone else"))
    assert shop.when(notifications.MarkRead(N, ACC)) == [NotificationRead(N, ACC)]


# ------------------------------------------------------------------ orders

ORD = "0bde0000-0000-4000-8000-000000000001"
LAMP = OrderLine(P, 2, 1250, "EUR")
MUG = OrderLine("mug", 1, 800, "EUR")
TEA = OrderLine("tea", 3, 500, "GBP")
PLACED = OrderPlaced(ORD, ACC, (LAMP,), (("EUR", 2500),))


def test_place_an_order_with_its_totals_per_currency(shop: Shop) -> None:
    [event] = shop.when(orders.PlaceOrder(ACC, (LAMP, MUG, TEA)))
    assert event == OrderPlaced(
        event.order_id, ACC, (LAMP, MUG, TEA), (("EUR", 3300), ("GBP", 1500))
    )


@pytest.mark.parametrize(
    "lines",
    [(), (LAMP, LAMP), (OrderLine(P, 0, 1250, "EUR"),), (OrderLine(P, 1, 0, "EUR"),)],
    ids=["no line", "a product twice", "no quantity", "no price"],
)
def test_an_order_that_cannot_be_placed(shop: Shop, lines: tuple[OrderLine, ...]) -> None:
    with pytest.raises(InvalidCommand):
        shop.when(orders.PlaceOrder(ACC, lines))


def test_an_order_from_placed_to_fulfilled_and_repeats_that_change_nothing(shop: Shop) -> None:
    shop.given(ORD, ORDER, PLACED)
    assert shop.when(orders.MarkStockReserved(ORD)) == [OrderStockReserved(ORD)]
    assert shop.when(orders.RequestPayment(ORD, "pay-1")) == [
        PaymentRequested(ORD, "pay-1", (("EUR", 2500),))
    ]
    assert shop.when(orders.ConfirmPayment(ORD, "pay-1")) == [OrderPaid(ORD, "pay-1")]
    assert shop.when(orders.ConfirmPayment(ORD, "pay-1")) == []  # a duplicate callback
    assert shop.when(orders.StartFulfilment(ORD)) == [FulfilmentStarted(ORD)]
    assert shop.when(orders.RecordFulfilmentFailure(ORD, 1, "oven cold")) == [
        FulfilmentAttemptFailed(ORD, 1, "oven cold")
    ]
    assert shop.when(orders.RecordFulfilmentFailure(ORD, 1, "oven cold")) == []
    assert shop.when(orders.RetryFulfilment(ORD)) == [FulfilmentRetried(ORD)]  # an operator's
    assert shop.when(orders.CompleteFulfilment(ORD)) == [OrderFulfilled(ORD)]
    with pytest.raises(OrderClosed):
        shop.when(orders.CancelOrder(ORD, "too late"))


def test_stock_short_rejects_and_a_late_reply_is_refused(shop: Shop) -> None:
    shop.given(ORD, ORDER, PLACED)
    assert shop.when(orders.RejectOrder(ORD, "not enough lamps")) == [
        OrderRejected(ORD, "not enough lamps")
    ]
    with pytest.raises(OrderClosed):
        shop.when(orders.MarkStockReserved(ORD))


def test_a_payment_fails_only_for_its_own_payment(shop: Shop) -> None:
    shop.given(ORD, ORDER, PLACED, OrderStockReserved(ORD), PaymentRequested(ORD, "pay-1", ()))
    with pytest.raises(WrongState):
        shop.when(orders.FailPayment(ORD, "pay-2", "declined"))
    assert shop.when(orders.FailPayment(ORD, "pay-1", "declined")) == [
        PaymentFailed(ORD, "pay-1", "declined")
    ]
    with pytest.raises(OrderClosed):
        shop.when(orders.ConfirmPayment(ORD, "pay-1"))  # a confirmation after the failure


def test_a_customer_cancels_their_own_order_before_payment(shop: Shop) -> None:
    shop.given(ORD, ORDER, PLACED, OrderStockReserved(ORD), PaymentRequested(ORD, "pay-1", ()))
    with pytest.raises(NotTheirOrder):
        shop.when(orders.CancelOrder(ORD, "mine now", customer_id="someone else"))
    assert shop.when(orders.CancelOrder(ORD, "changed my mind", customer_id=ACC)) == [
        OrderCancelled(ORD, "changed my mind")
    ]
    assert shop.when(orders.CancelOrder(ORD, "again", customer_id=ACC)) == []


# ------------------------------------------------------------------ the bus, for every command


def command_classes() -> list[type]:
    found = []
    for module in (accounts, users, products, notifications, orders):
        classes = [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and dataclasses.is_dataclass(cls)
        ]
        bases = {base for cls in classes for base in cls.__mro__[1:]}
        found += [cls for cls in classes if cls not in bases]
    return found


def test_every_command_class_has_a_handler() -> None:
    assert len(command_classes()) == 35
    assert set(command_classes()) == set(HANDLERS)


def test_a_command_in_two_tables_is_refused() -> None:
    with pytest.raises(ValueError, match="ChangePrice has two handlers"):
        handler_table(HANDLERS, {products.ChangePrice: HANDLERS[products.ChangePrice]})


def test_an_unknown_command_is_refused(shop: Shop) -> None:
    @dataclasses.dataclass(frozen=True)
    class Unknown:
        pass

    with pytest.raises(LookupError, match="no handler for Unknown"):
        shop.when(Unknown())


def test_a_change_to_no_stream_is_not_found(shop: Shop) -> None:
    with pytest.raises(AggregateNotFound):
        shop.when(products.ReceiveStock(P, 1))


def test_if_match_writes_only_at_that_version(shop: Shop) -> None:
    shop.given(P, PRODUCT, CREATED)
    with pytest.raises(PreconditionFailed) as refused:
        shop.when(products.ReceiveStock(P, 1), Context(expected_version=2))
    assert refused.value.actual == 1
    assert shop.when(products.ReceiveStock(P, 1), Context(expected_version=1)) != []
    assert len(shop.stream(P)) == 2


def test_an_idempotency_key_returns_the_first_outcome_for_the_same_command(shop: Shop) -> None:
    shop.given(P, PRODUCT, CREATED)
    ctx = Context(actor="ada", idempotency_key="k1")
    assert shop.when(products.ReceiveStock(P, 1), ctx) == [StockReceived(P, 1, 1)]
    first = shop.result
    assert shop.when(products.ReceiveStock(P, 1), ctx) == []
    assert shop.result is not None and first is not None
    assert (shop.result.replayed, shop.result.token) == (True, first.token)
    with pytest.raises(IdempotencyConflict):
        shop.when(products.ReceiveStock(P, 2), ctx)
    # The key is the caller's: another actor's same key is another command.
    assert shop.when(products.ReceiveStock(P, 2), Context(actor="bob", idempotency_key="k1"))


def test_a_password_is_left_out_of_the_fingerprint(shop: Shop) -> None:
    ctx = Context(idempotency_key="signup-1")
    shop.when(accounts.RegisterAccount("ada@example.com", "a secret"), ctx)
    assert shop.when(accounts.RegisterAccount("ada@example.com", "typo secret"), ctx) == []
    assert shop.result is not None and shop.result.replayed
    assert "secret" not in repr(accounts.RegisterAccount("ada@example.com", "a secret"))


class RacingStore(InMemoryEventStore):
    """Another writer appends to the stream just before each of the first `races` appends."""

    races = 0

    def append(self, stream_id: str, stream_type: str, events: Any, **kw: Any) -> Any:
        if self.races and stream_type == PRODUCT:
            self.races -= 1
            theirs = StockReceived(P, 1, 0)  # its stock_after is not checked here
            super().append(stream_id, stream_type, [theirs], expected_version=self.version(P))
        return super().append(stream_id, stream_type, events, **kw)


@pytest.mark.parametrize("races", [1, 3])
def test_a_write_that_loses_a_race_is_retried_on_fresh_state(shop: Shop, races: int) -> None:
    store = RacingStore(shop.store.registry)
    store.append(P, PRODUCT, [CREATED], expected_version=0)
    store.races = races
    result = Bus(store, HANDLERS).dispatch(products.ChangePrice(P, Decimal(5), "EUR"))
    assert result.version == 1 + races + 1
    assert isinstance(store.read(P)[-1].payload, PriceChanged)


def test_a_conditional_write_that_loses_a_race_is_refused(shop: Shop) -> None:
    store = RacingStore(shop.store.registry)
    store.append(P, PRODUCT, [CREATED], expected_version=0)
    store.races = 1
    with pytest.raises(PreconditionFailed):
        Bus(store, HANDLERS).dispatch(
            products.ChangePrice(P, Decimal(5), "EUR"), Context(expected_version=1)
        )
    assert [type(e.payload) for e in store.read(P)] == [ProductCreated, StockReceived]
