"""Waiting on a consistency token against the real relay and projections."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from eventstore.consistency import wait_for
from eventstore.tokens import ConsistencyToken, InvalidToken
from tests.support.engine import PG, REDIS, catch_up_all_partitions, relay
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import pg_store
from tests.support.store_contract import opened

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def write() -> str:
    stream = f"token-{uuid.uuid4().hex[:8]}"
    result = pg_store().append(
        stream, STREAM_TYPE, [opened(), Deposited(amount=Decimal(3))], expected_version=0
    )
    return result.token.encode()


def test_the_wait_times_out_when_the_read_models_have_not_applied_the_write() -> None:
    token = write()
    started = time.monotonic()
    outcome = wait_for(token, [PG, REDIS], timeout=0.4)
    elapsed = time.monotonic() - started
    assert not outcome.fresh and outcome.header == "stale"
    assert 0.4 <= elapsed < 1.5
    assert 0.4 <= outcome.waited <= elapsed  # how long it waited, as the response reports it
    relay()  # published, still not projected: still stale
    assert not wait_for(token, [PG], timeout=0.2).fresh


def test_the_wait_is_stale_until_every_named_read_model_has_applied_the_write() -> None:
    token = write()
    relay()
    catch_up_all_partitions(PG)  # one of the two
    assert wait_for(token, [PG], timeout=0).fresh
    assert not wait_for(token, [PG, REDIS], timeout=0.2).fresh
    assert not wait_for(token, [REDIS, PG], timeout=0.2).fresh
    catch_up_all_partitions(REDIS)
    assert wait_for(token, [PG, REDIS], timeout=0).fresh


def test_a_reaction_named_in_the_wait_is_waited_for_too() -> None:
    """`notifications.reactions` reads the store's log, not Kafka partitions: a token of a
    watch is fresh for it once it has recorded the watch."""
    from apps.shared.bus import dispatch
    from apps.users import commands as users
    from tests.support.accounts import person
    from tests.support.shop import a_product, run_reaction

    who = person()
    token = dispatch(users.WatchProduct(profile_id=who.account_id, product_id=a_product())).token
    relay()
    assert not wait_for(token, ["notifications.reactions"], timeout=0.2).fresh
    run_reaction("notifications.reactions")
    assert wait_for(token, ["notifications.reactions"], timeout=0).fresh


def test_a_checkpoint_at_the_written_event_has_not_applied_it() -> None:
    """A checkpoint names the next offset to apply: one equal to the event's offset (or a
    reaction's next position equal to its log position) means the event is still to come."""
    from projections import registry
    from projections.consistency import _position
    from projections.targets import target_for

    token = write()
    relay()
    topic, partition, offset, log_position = _position(ConsistencyToken.decode(token))
    assert offset is not None and partition is not None
    target = target_for(registry.get(PG))

    def move_to(next_offset: int) -> None:
        current = target.next_offset(topic, partition)
        assert target.apply(topic, partition, [], expected_offset=current, next_offset=next_offset)

    move_to(offset)
    assert not wait_for(token, [PG], timeout=0.1).fresh
    move_to(offset + 1)
    assert wait_for(token, [PG], timeout=0).fresh

    reaction = "notifications.reactions"  # reads the accounts topic, which the ledger uses
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO proj_reaction (reaction, next_position, decide_from, updated_at) "
            "VALUES (%s, %s, 0, now())",
            [reaction, log_position],
        )
    assert not wait_for(token, [reaction], timeout=0.1).fresh
    with connection.cursor() as cur:
        cur.execute("UPDATE proj_reaction SET next_position = %s", [log_position + 1])
    assert wait_for(token, [reaction], timeout=0).fresh


def test_the_wait_returns_as_soon_as_the_write_is_applied() -> None:
    token = write()
    relay()
    applied_at: list[float] = []

    def project_later() -> None:
        time.sleep(0.5)
        for name in (PG, REDIS):
            catch_up_all_partitions(name)
        applied_at.append(time.monotonic())
        connection.close()

    worker = threading.Thread(target=project_later)
    worker.start()
    outcome = wait_for(token, [PG, REDIS], timeout=10)
    returned_at = time.monotonic()
    worker.join()
    assert outcome.fresh and outcome.header == "fresh"
    assert 0.5 <= outcome.waited < 5
    assert returned_at - applied_at[0] < 0.25, "must return right after the apply, not later"
    assert wait_for(token, [PG, REDIS], timeout=0).fresh  # already applied: no wait at all


def test_malformed_or_unknown_tokens_are_rejected() -> None:
    with pytest.raises(InvalidToken):
        wait_for("garbage", [PG])
    unknown = ConsistencyToken("nope", 1, uuid.uuid4()).encode()
    with pytest.raises(InvalidToken):
        wait_for(unknown, [PG], timeout=0.1)


@pytest.mark.urls("tests.support.urls")
def test_a_read_over_http_waits_for_the_token_or_says_it_is_stale() -> None:
    from django.test import Client

    stream = f"http-{uuid.uuid4().hex[:8]}"
    store = pg_store()
    store.append(stream, STREAM_TYPE, [opened()], expected_version=0)
    relay()
    catch_up_all_partitions(PG)
    token = store.append(
        stream, STREAM_TYPE, [Deposited(amount=Decimal(5))], expected_version=1
    ).token.encode()
    client = Client()
    plain = client.get(f"/ledgers/{stream}/")
    assert plain.status_code == 200 and "X-Consistency" not in plain.headers

    stale = client.get(f"/ledgers/{stream}/?max_wait=0.2", HTTP_X_CONSISTENCY_TOKEN=token)
    assert stale.status_code == 200
    assert stale.headers["X-Consistency"] == "stale" and stale.json()["balance"] == "0"
    assert int(stale.headers["X-Consistency-Waited-Ms"]) >= 200

    relay()
    catch_up_all_partitions(PG)
    fresh = client.get(f"/ledgers/{stream}/?consistent_with={token}")
    assert fresh.headers["X-Consistency"] == "fresh" and fresh.json()["balance"] == "5"

    for bad in (
        "?consistent_with=garbage",
        f"?consistent_with={token}&max_wait=soon",
        f"?consistent_with={token}&max_wait=-1",
    ):
        response = client.get(f"/ledgers/{stream}/{bad}")
        assert response.status_code == 400 and response.json()["detail"]
