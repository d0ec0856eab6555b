"""What one run of a reaction reports and does: the events it applied, the ones it parked, a
runner that lost the checkpoint to another, and where an operator's re-run starts deciding.
(Only the reaction runs here: it reads the store's log, not the read models.)"""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from apps.notifications.aggregates import Notification
from apps.notifications.reactions import Notifier
from apps.products import commands as products
from apps.shared.bus import dispatch
from apps.users import commands as users
from eventstore.runtime import get_store
from projections import reactions, registry
from projections.models import DeadLetter
from projections.reactions import checkpoints
from tests.support.accounts import person
from tests.support.engine import relay
from tests.support.shop import a_product, fail_price_drops_of, run_engine

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "notifications.reactions"


def notifier() -> Any:
    return registry.reaction(NAME)


def a_watched_product() -> str:
    watcher = person()
    product = a_product()
    dispatch(users.WatchProduct(profile_id=watcher.account_id, product_id=product))
    run_engine(NAME)
    return product


def drop_price(product: str, price: str) -> None:
    dispatch(products.ChangePrice(product_id=product, price=Decimal(price), currency="EUR"))


def stale_once(monkeypatch: pytest.MonkeyPatch, stale: reactions.Checkpoint) -> None:
    """The next run reads `stale` as its checkpoint (read before another runner moved it),
    then the real one."""
    real = reactions.checkpoint
    calls: list[str] = []

    def checkpoint(name: str) -> reactions.Checkpoint:
        calls.append(name)
        return stale if len(calls) == 1 else real(name)

    monkeypatch.setattr(checkpoints, "checkpoint", checkpoint)


def decisions() -> tuple[int, int]:
    """(dead letters, notifications) of the reaction: what its runs leave."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM es_stream WHERE stream_type = %s", [Notification.stream_type]
        )
        notifications = cur.fetchone()[0]
    return DeadLetter.objects.filter(projection=NAME).count(), notifications


def test_a_run_reports_the_events_it_applied_and_the_one_it_parked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sick, fine = a_watched_product(), a_watched_product()
    fail_price_drops_of(monkeypatch, sick)
    drop_price(sick, "9.00")
    drop_price(fine, "9.00")
    drop_price(fine, "8.00")
    relay()
    run = reactions.run(notifier())
    assert run == reactions.Run(applied=2, dead_lettered=1, reached_end=True, conflicts=0)
    assert reactions.run(notifier()) == reactions.Run(reached_end=True)


def test_a_run_goes_on_past_a_full_batch_to_the_settled_end() -> None:
    product = a_watched_product()
    for price in ("9.00", "8.00", "7.00"):
        drop_price(product, price)
    relay()
    run = reactions.run(notifier(), batch_size=2)
    assert run == reactions.Run(applied=3, reached_end=True)


def test_a_run_out_of_time_stops_after_the_batch_it_applied() -> None:
    product = a_watched_product()
    for price in ("9.00", "8.00", "7.00"):
        drop_price(product, price)
    relay()
    assert reactions.run(notifier(), batch_size=2, max_seconds=0) == reactions.Run(applied=2)


def test_a_runner_behind_the_checkpoint_applies_nothing_and_counts_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    product = a_watched_product()
    stale = reactions.checkpoint(NAME)
    drop_price(product, "9.00")
    run_engine(NAME)
    before = decisions()
    stale_once(monkeypatch, stale)
    run = reactions.run(notifier())
    assert run == reactions.Run(applied=0, dead_lettered=0, reached_end=True, conflicts=1)
    assert decisions() == before


@pytest.mark.parametrize("first", ["healthy", "parked"])
def test_a_runner_behind_the_checkpoint_isolating_events_applies_nothing_either(
    monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """With a parked stream among its events, the runner takes them one by one: the first one
    (of a healthy stream, or a parked one's, to be recorded as blocked) finds the checkpoint
    moved, and it stops there."""
    sick, fine = a_watched_product(), a_watched_product()
    fail_price_drops_of(monkeypatch, sick)
    stale = reactions.checkpoint(NAME)
    for product in (fine, sick) if first == "healthy" else (sick, fine):
        drop_price(product, "9.00")
    run_engine(NAME)
    assert DeadLetter.objects.filter(projection=NAME, stream_id=sick).count() == 1
    before = decisions()
    stale_once(monkeypatch, stale)
    run = reactions.run(notifier())
    assert run == reactions.Run(applied=0, dead_lettered=0, reached_end=True, conflicts=1)
    assert decisions() == before


def test_a_re_run_from_an_event_decides_on_that_event_and_on_none_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    product = a_watched_product()
    drop_price(product, "9.00")
    drop_price(product, "8.00")
    run_engine(NAME)
    second = get_store().read(product)[-1]
    decided: list[str] = []
    original = Notifier.notify_watchers_of_price_drop

    def counted(self: Any, facts: Any, e: Any) -> None:
        decided.append(str(e.event_id))
        original(self, facts, e)

    monkeypatch.setitem(Notifier._deciders, "products.PriceChanged", counted)
    call_command("reactions", "reset", NAME, "--to", str(second.event_id), stdout=StringIO())
    run_engine(NAME)
    assert decided == [str(second.event_id)]
