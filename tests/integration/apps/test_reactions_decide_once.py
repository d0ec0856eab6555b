"""Reactions decide once, on the facts as of their event, whatever happens afterwards.

A history where the world changes after the events (staff hired after a low-stock event, people
watching after a price drop, preferences changed, a product renamed), then every kind of
replay and an operator's re-run: nothing is appended to the store, no side-effect job is
created, no mail is sent, and the read models rebuilt equal the live ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django_redis import get_redis_connection

from apps.notifications.models import InboxEntry
from apps.products import commands as products
from apps.shared.bus import dispatch
from apps.users import commands as users
from eventstore.projection import PostgresProjection
from projections import registry
from projections.dump import differing, dump
from projections.targets import PostgresTarget, redis_namespace
from tests.support.accounts import Person, person
from tests.support.engine import own_log
from tests.support.shop import a_product, mailbox, run_engine, run_reaction, run_side_effect_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def empty_read_models() -> Iterator[None]:
    """Topics of the test's own, and every read model empty (Redis keeps earlier tests' keys,
    and tables without a model survive the flush): a rebuild then equals the live models."""
    with own_log():
        client = get_redis_connection("default")
        for projection in registry.projections().values():
            if isinstance(projection, PostgresProjection):
                PostgresTarget(projection).setup()
                with connection.cursor() as cur:
                    for table in projection.tables:
                        cur.execute(f"TRUNCATE {table}")
            else:
                for key in client.scan_iter(match=f"{redis_namespace(projection.name)}:*"):
                    client.delete(key)
        yield


@dataclass
class World:
    product: str
    name: str
    staff_before: Person
    watcher_before: Person
    quiet_later: Person  # watched, was told, then turned price drops off
    staff_after: Person
    watcher_after: Person


def kinds_for(who: Person) -> list[str]:
    """The notifications the person got about products (everyone got a welcome)."""
    entries = InboxEntry.objects.filter(recipient_id=who.account_id).exclude(kind="welcome")
    return sorted(entries.values_list("kind", flat=True))


def counts() -> tuple[int, int, int]:
    """(events in the store, side-effect jobs, mails sent)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM es_event), (SELECT count(*) FROM proj_side_effect)"
        )
        events, jobs = cur.fetchone()
    return int(events), int(jobs), len(mailbox())


def a_world_that_changed_after_its_events() -> World:
    staff_before, watcher_before, quiet_later = person("staff"), person(), person()
    product = a_product(stock=6)
    name = products_name(product)
    for who in (watcher_before, quiet_later):
        dispatch(users.WatchProduct(profile_id=who.account_id, product_id=product))
    dispatch(products.ChangePrice(product_id=product, price=Decimal("15.00"), currency="EUR"))
    # 6 -> 4: crosses the threshold of 5
    dispatch(
        products.ReserveStock(product_id=product, reservation_id=str(uuid.uuid4()), quantity=2)
    )
    run_engine()
    # The world changes after the events.
    staff_after, watcher_after = person("staff"), person()
    dispatch(users.WatchProduct(profile_id=watcher_after.account_id, product_id=product))
    dispatch(
        users.SetNotificationPreferences(
            profile_id=quiet_later.account_id, kinds=("welcome",), channels=("email",)
        )
    )
    dispatch(products.EditProduct(product_id=product, name="Renamed lamp", description=None))
    run_engine()
    run_side_effect_jobs("notifications.delivery")
    run_engine()
    return World(
        product, name, staff_before, watcher_before, quiet_later, staff_after, watcher_after
    )


def products_name(product_id: str) -> str:
    from apps.products.models import CatalogEntry

    run_engine("products.catalog")
    return str(CatalogEntry.objects.get(product_id=product_id).name)


def assert_decided_as_of_the_events(world: World) -> None:
    assert kinds_for(world.watcher_before) == ["price_drop"]
    assert kinds_for(world.quiet_later) == ["price_drop"]  # its preferences allowed it then
    assert kinds_for(world.staff_before) == ["low_stock"]
    assert kinds_for(world.staff_after) == []  # hired after the stock ran low
    assert kinds_for(world.watcher_after) == []  # watching since after the drop
    drop = InboxEntry.objects.get(recipient_id=world.watcher_before.account_id, kind="price_drop")
    assert drop.subject == f"Price drop: {world.name}"  # its name then, not "Renamed lamp"


def every_read_model() -> dict[str, object]:
    return {name: dump(p) for name, p in sorted(registry.projections().items())}


@pytest.mark.usefixtures("empty_read_models")
def test_replays_decide_nothing_again_in_a_world_that_changed_after_the_events() -> None:
    world = a_world_that_changed_after_its_events()
    assert_decided_as_of_the_events(world)
    before, live = counts(), every_read_model()

    out = StringIO()
    call_command("replay_projections", "--all", "--shadow", "--no-swap", "--jobs", "1", stdout=out)
    assert counts() == before
    reports = [line for line in out.getvalue().splitlines() if "shadow and live differ" in line]
    assert len(reports) == len(registry.projections())
    assert all("differ in 0 rows/keys" in line for line in reports), out.getvalue()

    call_command("replay_projections", "--all", "--jobs", "2", stdout=StringIO())
    assert counts() == before
    run_engine()  # the reactions and side effects have nothing to do after a replay
    assert run_side_effect_jobs("notifications.delivery") == []
    assert counts() == before
    rebuilt = every_read_model()
    assert differing(live, rebuilt, sides=("live", "rebuilt")) == []
    assert_decided_as_of_the_events(world)


@pytest.mark.usefixtures("empty_read_models")
def test_an_operators_re_run_decides_as_it_did_and_creates_nothing_new() -> None:
    world = a_world_that_changed_after_its_events()
    before = counts()
    dry = StringIO()
    call_command(
        "reactions", "reset", "notifications.reactions", "--to", "0", "--dry-run", stdout=dry
    )
    assert "decides again on" in dry.getvalue() and "dry run: nothing changed" in dry.getvalue()
    assert "1 products.PriceChanged" in dry.getvalue()

    call_command("reactions", "reset", "notifications.reactions", "--to", "0", stdout=StringIO())
    run_reaction("notifications.reactions")
    run_engine()
    assert counts() == before  # every decision was made before: nothing new, no mail
    assert_decided_as_of_the_events(world)


@pytest.mark.usefixtures("empty_read_models")
def test_skipping_a_range_records_its_facts_but_decides_nothing_in_it() -> None:
    watcher = person()
    product = a_product()
    run_engine()
    start = reactions_settled()
    dispatch(users.WatchProduct(profile_id=watcher.account_id, product_id=product))
    dispatch(products.ChangePrice(product_id=product, price=Decimal("9.00"), currency="EUR"))
    run_engine("products.catalog")  # relayed; the reaction has not run yet
    end = reactions_settled()
    assert end > start
    out = StringIO()
    call_command("reactions", "reset", "notifications.reactions", "--to", "end", stdout=out)
    assert "skips deciding on 1 events (1 products.PriceChanged)" in out.getvalue()
    run_engine()
    assert kinds_for(watcher) == []  # the skipped drop told nobody
    dispatch(products.ChangePrice(product_id=product, price=Decimal("8.00"), currency="EUR"))
    run_engine()
    assert kinds_for(watcher) == ["price_drop"]  # the watch skipped over was still recorded


def reactions_settled() -> int:
    from projections.reactions import store

    return store().settled_position()


def test_a_reset_refuses_what_is_not_a_position() -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="log position"):
        call_command("reactions", "reset", "notifications.reactions", "--to", "yesterday")
    with pytest.raises(CommandError, match="no reaction named"):
        call_command("reactions", "reset", "notifications.inbox", "--to", "0")
    with pytest.raises(CommandError, match="no stored event"):
        call_command("reactions", "reset", "notifications.reactions", "--to", str(uuid.uuid4()))
    with pytest.raises(CommandError, match="past the settled end of the log"):
        call_command("reactions", "reset", "notifications.reactions", "--to", "999999999999")
    with pytest.raises(CommandError, match="no reaction named"):
        call_command("reactions", "status", "products.catalog")


@pytest.mark.usefixtures("empty_read_models")
def test_status_and_metrics_show_where_each_reaction_stands() -> None:
    from django.test import Client

    from tests.support.engine import relay

    run_engine()
    person()  # its registration waits for both reactions once relayed
    relay()
    body = Client().get("/metrics").content.decode()
    # its registration and its profile; the registration alone
    assert 'reaction_lag_events{reaction="notifications.reactions"} 2.0' in body
    assert 'reaction_lag_events{reaction="users.profile_lifecycle"} 1.0' in body
    status = StringIO()
    call_command("projection_status", stdout=status)
    assert "notifications.reactions" in status.getvalue()
    run_engine()
    body = Client().get("/metrics").content.decode()
    assert 'reaction_lag_events{reaction="notifications.reactions"} 0.0' in body
    assert 'reaction_dead_letters{reaction="notifications.reactions"} 0.0' in body
    assert 'reaction_log_position{reaction="notifications.reactions"}' in body


@pytest.mark.usefixtures("empty_read_models")
def test_a_read_model_that_appends_during_a_replay_is_refused_and_appends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler that wrongly decides (appends an event) inside a read model: the rebuild's
    store refuses it, the event is parked with the reason, and the store is unchanged."""
    from apps.products.read_models import PriceHistory
    from eventstore.runtime import get_store
    from projections.models import DeadLetter
    from tests.support.ledger import STREAM_TYPE
    from tests.support.store_contract import opened

    a_product()
    run_engine()
    before = counts()

    def deciding(self: object, cur: object, e: object) -> None:
        get_store().append(f"wrong-{uuid.uuid4()}", STREAM_TYPE, [opened()], expected_version=0)

    monkeypatch.setitem(PriceHistory._handlers, "products.ProductCreated", deciding)
    call_command("replay_projections", "products.price_history", "--jobs", "1", stdout=StringIO())
    assert counts() == before
    letter = DeadLetter.objects.get(projection="products.price_history", status="parked")
    assert "read-only during the application of a read model" in letter.error


@pytest.mark.usefixtures("empty_read_models")
def test_a_reaction_takes_over_where_the_consumer_of_its_name_stopped() -> None:
    """An upgrade: `notifications.reactions` was a read model with Kafka checkpoints. The
    reaction records facts from the start of the log but decides only on what that consumer
    had not handled: nothing twice, nothing missed."""
    from projections.status import partitions
    from tests.support.engine import kafka_end, relay

    watcher = person()
    product = a_product()
    dispatch(users.WatchProduct(profile_id=watcher.account_id, product_id=product))
    dispatch(products.ChangePrice(product_id=product, price=Decimal("15.00"), currency="EUR"))
    relay()
    with connection.cursor() as cur:  # the old consumer had handled everything so far
        for module in ("accounts", "products"):
            topic = registry.topics_of(registry.get("products.catalog"))[0].replace(
                "products.", f"{module}."
            )
            for partition in partitions(topic):
                cur.execute(
                    "INSERT INTO proj_checkpoint (projection, topic, partition, next_offset, "
                    "updated_at) VALUES (%s, %s, %s, %s, now())",
                    ["notifications.reactions", topic, partition, kafka_end(topic, partition)],
                )
    dispatch(products.ChangePrice(product_id=product, price=Decimal("10.00"), currency="EUR"))
    run_engine()
    drops = InboxEntry.objects.filter(recipient_id=watcher.account_id, kind="price_drop")
    assert [d.body.split(" now costs ")[1][:5] for d in drops] == ["10.00"]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM proj_checkpoint WHERE projection = %s", [NOTIFIER])
        assert cur.fetchone()[0] == 0


NOTIFIER = "notifications.reactions"


@pytest.mark.usefixtures("empty_read_models")
def test_a_shadow_comparison_leaves_a_lagging_live_model_as_it_is() -> None:
    """`--shadow --no-swap` builds up to where the live model is and compares there: the live
    model, behind the log, is neither written to nor moved."""
    from projections.status import status
    from tests.support.engine import relay

    a_product()
    run_engine()
    a_product()
    relay()  # in Kafka; the live catalog has not applied it
    catalog = registry.get("products.catalog")
    before = (dump(catalog), [(r.partition, r.checkpoint) for r in status(["products.catalog"])])
    assert sum(r.lag for r in status(["products.catalog"])) > 0
    out = StringIO()
    call_command("replay_projections", "products.catalog", "--shadow", "--no-swap", stdout=out)
    assert "shadow and live differ in 0 rows/keys" in out.getvalue()
    after = (dump(catalog), [(r.partition, r.checkpoint) for r in status(["products.catalog"])])
    assert after == before


@pytest.mark.usefixtures("empty_read_models")
def test_a_reaction_never_passes_an_event_whose_transaction_is_still_open_below_it() -> None:
    """A watch takes its log position, then its transaction stays open while a price drop of
    the same product commits after it. The relay publishes the drop and keeps a gap for the
    watch; the reaction stops below the gap (it may not decide on the drop without the facts
    before it), and once the watch commits, the watcher is told."""
    import threading

    from django.db import connections, transaction

    from projections.reactions import position
    from tests.support.engine import relay

    watcher = person()
    product = a_product()
    run_engine()
    appended, release = threading.Event(), threading.Event()

    def slow_watch() -> None:
        try:
            with transaction.atomic():
                dispatch(users.WatchProduct(profile_id=watcher.account_id, product_id=product))
                appended.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_watch)
    thread.start()
    try:
        assert appended.wait(30)
        dispatch(products.ChangePrice(product_id=product, price=Decimal("5.00"), currency="EUR"))
        relay()
        run_reaction("notifications.reactions")
        at = position("notifications.reactions")
        assert at is not None
        assert at.next_position <= reactions_settled()  # nothing past the open watch is
        assert price_drops_decided_for(watcher) == 0  # settled: the drop waits for it
    finally:
        release.set()
        thread.join(30)
    run_engine()
    assert price_drops_decided_for(watcher) == 1
    assert kinds_for(watcher) == ["price_drop"]


def price_drops_decided_for(who: Person) -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM es_event WHERE event_type = 'notifications.NotificationCreated' "
            "AND payload->>'kind' = 'price_drop' AND payload->>'recipient_id' = %s",
            [who.account_id],
        )
        return int(cur.fetchone()[0])
