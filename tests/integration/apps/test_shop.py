"""Products and notifications through the engine, run in-process: read models, reactions,
deliveries, idempotency and the poison-event path of a reaction."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_redis import get_redis_connection

from apps.notifications.delivery import Delivery
from apps.notifications.models import InboxEntry
from apps.notifications.reactions import Notifier
from apps.notifications.read_models import UnreadCounters
from apps.products import commands as products
from apps.products.models import CatalogEntry, PriceHistoryEntry
from apps.shared.bus import dispatch
from apps.users import commands as users
from projections import dead_letters
from projections.models import DeadLetter
from tests.support.accounts import person
from tests.support.shop import (
    a_product,
    fail_price_drops_of,
    mails_to,
    run_engine,
    run_side_effect_jobs,
)

pytestmark = pytest.mark.django_db(transaction=True)


def unread(account_id: str) -> int:
    raw = get_redis_connection("default").get(UnreadCounters.live().key("unread", account_id))
    return int(raw or 0)


def price_drop_inbox(account_id: str) -> list[InboxEntry]:
    return list(InboxEntry.objects.filter(recipient_id=account_id, kind="price_drop"))


def test_a_price_drop_reaches_each_watcher_once_in_inbox_counter_and_mail() -> None:
    watcher, other = person(), person()
    product = a_product()
    dispatch(users.WatchProduct(profile_id=watcher.account_id, product_id=product))
    run_engine()
    dispatch(products.ChangePrice(product_id=product, price=Decimal("15.00"), currency="EUR"))
    dispatch(products.ChangePrice(product_id=product, price=Decimal("18.00"), currency="EUR"))
    run_engine()
    run_engine()  # a second pass over the same log changes nothing
    inbox = price_drop_inbox(watcher.account_id)
    assert [e.subject.startswith("Price drop") for e in inbox] == [True]
    assert "15.00 EUR" in inbox[0].body
    assert price_drop_inbox(other.account_id) == []
    assert unread(watcher.account_id) == 1  # the price drop (the welcome is an email only)

    assert run_side_effect_jobs("notifications.delivery")
    assert set(run_side_effect_jobs("notifications.delivery", again=True)) == {"done"}
    assert len([m for m in mails_to(watcher.email) if "Price drop" in m]) == 1

    catalog = CatalogEntry.objects.get(product_id=product)
    assert catalog.price == Decimal("18.00") and catalog.stock == 10 and catalog.published
    history = PriceHistoryEntry.objects.filter(product_id=product).order_by("version")
    assert [h.new_price for h in history] == [Decimal("20"), Decimal("15"), Decimal("18")]


def test_preferences_without_price_drops_get_none() -> None:
    quiet = person()
    dispatch(
        users.SetNotificationPreferences(
            profile_id=quiet.account_id, kinds=("welcome",), channels=("inbox",)
        )
    )
    product = a_product()
    dispatch(users.WatchProduct(profile_id=quiet.account_id, product_id=product))
    run_engine()
    dispatch(products.ChangePrice(product_id=product, price=Decimal("1.00"), currency="EUR"))
    run_engine()
    assert price_drop_inbox(quiet.account_id) == []


def test_low_stock_notifies_staff_when_the_stock_crosses_the_threshold() -> None:
    staff = person("staff")
    product = a_product(stock=6)
    for _ in range(3):  # 6 -> 5 -> 4 (crosses 5) -> 3
        dispatch(
            products.ReserveStock(
                product_id=product, reservation_id=str(__import__("uuid").uuid4()), quantity=1
            )
        )
    run_engine()
    low = InboxEntry.objects.filter(recipient_id=staff.account_id, kind="low_stock")
    assert [e.body.split(" is down to ")[1][:1] for e in low] == ["4"]


def test_a_failing_reaction_parks_only_its_stream_and_a_redrive_delivers_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sick_watcher, fine_watcher = person(), person()
    sick, fine = a_product(), a_product()
    dispatch(users.WatchProduct(profile_id=sick_watcher.account_id, product_id=sick))
    dispatch(users.WatchProduct(profile_id=fine_watcher.account_id, product_id=fine))
    run_engine()

    original = Notifier.notify_watchers_of_price_drop
    fail_price_drops_of(monkeypatch, sick)
    for product in (sick, fine):
        dispatch(products.ChangePrice(product_id=product, price=Decimal("9.00"), currency="EUR"))
    dispatch(products.ChangePrice(product_id=sick, price=Decimal("8.00"), currency="EUR"))
    run_engine()

    letters = DeadLetter.objects.filter(projection="notifications.reactions", stream_id=sick)
    assert sorted(letter.status for letter in letters) == ["blocked", "parked"]
    assert price_drop_inbox(sick_watcher.account_id) == []
    assert len(price_drop_inbox(fine_watcher.account_id)) == 1  # other streams go on

    monkeypatch.setitem(Notifier._deciders, "products.PriceChanged", original)  # the fix
    dead_letters.redrive("notifications.reactions", sick)
    dead_letters.redrive("notifications.reactions", sick)
    run_engine()
    assert len(price_drop_inbox(sick_watcher.account_id)) == 2  # 20 -> 9, then 9 -> 8
    run_side_effect_jobs("notifications.delivery")
    assert len([m for m in mails_to(sick_watcher.email) if "Price drop" in m]) == 2


def test_the_last_failed_delivery_is_recorded_and_a_resend_delivers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    me = person()
    run_engine()  # the welcome notification (an email) is created

    def smtp_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("SMTP server not answering")

    monkeypatch.setattr("apps.notifications.delivery.send_mail", smtp_down)
    assert run_side_effect_jobs("notifications.delivery", final_attempt=True)
    run_engine("notifications.inbox")
    welcome = InboxEntry.objects.get(recipient_id=me.account_id, kind="welcome")
    assert welcome.status == "failed"
    monkeypatch.undo()

    admin = person("staff", "admin")
    client = admin.client()
    client.force_login(admin.user)
    client.post(
        "/admin/notifications/inboxentry/",
        {"action": "resend", "_selected_action": [welcome.notification_id]},
    )
    run_engine()
    run_side_effect_jobs("notifications.delivery")
    run_engine()
    assert InboxEntry.objects.get(pk=welcome.pk).status == "delivered"
    assert len([m for m in mails_to(me.email) if "Welcome" in m]) == 1


def test_a_replay_refuses_a_reaction_and_says_how_to_move_one() -> None:
    with pytest.raises(CommandError) as refused:
        call_command("replay_projections", "notifications.reactions")
    assert "is a reaction, not a read model" in str(refused.value)
    assert "manage.py reactions reset notifications.reactions" in str(refused.value)


def test_replaying_every_projection_sends_nothing_again() -> None:
    me = person()
    run_engine()
    run_side_effect_jobs("notifications.delivery")
    before = len(mails_to(me.email))
    assert before == 1
    call_command("replay_projections", "notifications.inbox", "notifications.unread")
    run_engine()
    run_side_effect_jobs("notifications.delivery")
    assert len(mails_to(me.email)) == before
    assert InboxEntry.objects.filter(recipient_id=me.account_id).count() == 1  # the welcome
    assert unread(me.account_id) == 0  # an email only, not in the inbox


def test_mark_one_and_all_read_over_the_api() -> None:
    me = person()
    watched = [a_product(), a_product()]
    for product in watched:
        dispatch(users.WatchProduct(profile_id=me.account_id, product_id=product))
    run_engine()
    for product in watched:
        dispatch(products.ChangePrice(product_id=product, price=Decimal("5.00"), currency="EUR"))
    run_engine()
    client = me.client()
    inbox = client.get(reverse("notifications"), {"unread": "true"}).json()["results"]
    assert len(inbox) == 2
    one = client.post(reverse("notification-read", kwargs={"notification_id": inbox[0]["id"]}))
    assert one.status_code == 200
    run_engine("notifications.inbox", "notifications.unread")
    assert unread(me.account_id) == 1
    assert client.post(reverse("notifications-read-all")).json() == {"marked": 1}
    run_engine("notifications.inbox", "notifications.unread")
    assert client.get(reverse("notifications-unread")).json() == {"unread": 0}
    assert client.get(reverse("notifications"), {"unread": "true"}).json()["results"] == []
    stranger = person().client()
    other = stranger.post(reverse("notification-read", kwargs={"notification_id": inbox[0]["id"]}))
    assert other.status_code == 404


def test_the_delivery_side_effect_runs_on_its_own_queue() -> None:
    assert Delivery.queue == "notifications"


def test_an_operator_skips_a_parked_event_and_redrives_the_ones_behind_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watcher = person()
    sick = a_product()
    dispatch(users.WatchProduct(profile_id=watcher.account_id, product_id=sick))
    run_engine()

    def broken(self: Any, facts: Any, e: Any) -> None:
        raise RuntimeError("the reaction cannot handle this product")

    monkeypatch.setitem(Notifier._deciders, "products.PriceChanged", broken)
    dispatch(products.ChangePrice(product_id=sick, price=Decimal("9.00"), currency="EUR"))
    dispatch(products.ChangePrice(product_id=sick, price=Decimal("8.00"), currency="EUR"))
    run_engine()
    parked = DeadLetter.objects.get(projection="notifications.reactions", status="parked")
    blocked = DeadLetter.objects.get(projection="notifications.reactions", status="blocked")

    outcome = dead_letters.redrive("notifications.reactions", sick)  # still failing
    assert outcome.resolved == 0 and outcome.still_parked is not None
    again = DeadLetter.objects.get(pk=parked.pk)
    assert again.status == "parked" and again.attempts == parked.attempts + 1
    assert "cannot handle this product" in again.error

    with pytest.raises(dead_letters.DeadLetterError, match="blocked ones wait for a redrive"):
        dead_letters.skip(blocked.pk)
    with pytest.raises(dead_letters.DeadLetterError, match="no dead letter"):
        dead_letters.skip(10**9)
    out = StringIO()
    call_command("dead_letters", "skip", str(parked.pk), stdout=out)
    assert f"skipped {parked.pk}" in out.getvalue()
    skipped = DeadLetter.objects.get(pk=parked.pk)
    assert skipped.status == "skipped" and skipped.resolved_at is not None
    with pytest.raises(dead_letters.DeadLetterError, match="is skipped; only a parked one"):
        dead_letters.skip(parked.pk)  # once only

    monkeypatch.undo()  # the fix, for what comes after the skipped event
    assert dead_letters.redrive("notifications.reactions", sick).resolved == 1
    with pytest.raises(dead_letters.DeadLetterError, match="is resolved; only a parked one"):
        dead_letters.skip(blocked.pk)  # redriven: nothing left to skip
    run_engine()
    drops = price_drop_inbox(watcher.account_id)
    assert ["8.00" in d.body for d in drops] == [True]  # the skipped 9.00 drop told nobody


def test_a_reaction_that_fails_twice_is_retried_not_parked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In its batch, then alone once: the next attempt (of PROJECTIONS_MAX_ATTEMPTS) works."""
    watcher = person()
    product = a_product()
    dispatch(users.WatchProduct(profile_id=watcher.account_id, product_id=product))
    run_engine()
    original = Notifier.notify_watchers_of_price_drop
    failures: list[Any] = []

    def flaky_twice(self: Any, facts: Any, e: Any) -> None:
        if len(failures) < 2:
            failures.append(e.event_id)
            raise ConnectionResetError("a hiccup")
        original(self, facts, e)

    monkeypatch.setitem(Notifier._deciders, "products.PriceChanged", flaky_twice)
    dispatch(products.ChangePrice(product_id=product, price=Decimal("9.00"), currency="EUR"))
    run_engine()
    assert len(failures) == 2
    assert not DeadLetter.objects.filter(projection="notifications.reactions").exists()
    assert len(price_drop_inbox(watcher.account_id)) == 1
