"""What operators see and do: /metrics, the admin status page, dead-letter actions."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django_redis import get_redis_connection

from projections.models import DeadLetter
from tests.support.engine import PG, REDIS, catch_up_all_partitions, dump, publish
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import pg_store
from tests.support.projections import POISON_AMOUNT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def admin_client() -> Client:
    user = get_user_model().objects.create_superuser(
        f"admin-{uuid.uuid4().hex[:6]}", "admin@example.com", "pw"
    )
    client = Client()
    client.force_login(user)
    return client


def parked_stream(prefix: str) -> str:
    publish(prefix, streams=2, deposits=1)
    stream = f"{prefix}-0"
    pg_store().append(stream, STREAM_TYPE, [Deposited(amount=POISON_AMOUNT)], expected_version=2)
    from tests.support.engine import relay

    relay()
    catch_up_all_partitions(PG)
    return stream


def test_metrics_report_lag_checkpoints_dead_letters_and_the_outbox() -> None:
    prefix = f"metrics-{uuid.uuid4().hex[:8]}"
    parked_stream(prefix)
    body = Client().get("/metrics").content.decode()
    assert "projection_metrics_up 1.0" in body
    assert f'projection_dead_letters{{projection="{PG}"}} 1.0' in body
    assert 'projection_lag_events{partition="0",projection="tests.ledger_redis"' in body
    assert "projection_checkpoint_offset{" in body
    assert "relay_outbox_pending 0.0" in body


def test_admin_status_page_lists_every_partition_and_queues_a_rebuild(
    admin_client: Client,
) -> None:
    page = admin_client.get("/admin/projections/checkpoint/status/")
    assert page.status_code == 200
    assert PG.encode() in page.content and REDIS.encode() in page.content
    assert b"<h2>Reactions</h2>" in page.content and b"notifications.reactions" in page.content
    assert Client().get("/admin/projections/checkpoint/status/").status_code == 302  # login
    response = admin_client.post(
        "/admin/projections/checkpoint/status/", {"rebuild": "nope"}, follow=True
    )
    assert b"no projection named &#x27;nope&#x27;" in response.content.lower()


def test_admin_retry_action_redrives_the_stream_after_the_fix(admin_client: Client) -> None:
    prefix = f"admin-{uuid.uuid4().hex[:8]}"
    stream = parked_stream(prefix)
    letter = DeadLetter.objects.get(projection=PG, stream_id=stream)
    assert letter.status == "parked"
    changelist = "/admin/projections/deadletter/"
    assert admin_client.get(changelist).status_code == 200
    response = admin_client.post(
        changelist, {"action": "retry_streams", "_selected_action": [letter.pk]}, follow=True
    )
    assert b"still failing" in response.content
    get_redis_connection("default").set(f"{settings.REDIS_KEY_PREFIX}:poison-fixed", 1)
    admin_client.post(changelist, {"action": "retry_streams", "_selected_action": [letter.pk]})
    letter.refresh_from_db()
    assert letter.status == "resolved"
    row = {r[0]: r for r in dump(PG, prefix)}[stream]
    assert row[3] == [1, 2, 3] and Decimal(row[2]) == POISON_AMOUNT + 1


def test_admin_skip_action_skips_only_parked_events(admin_client: Client) -> None:
    prefix = f"skip-{uuid.uuid4().hex[:8]}"
    stream = parked_stream(prefix)
    letter = DeadLetter.objects.get(projection=PG, stream_id=stream)
    admin_client.post(
        "/admin/projections/deadletter/", {"action": "skip_parked", "_selected_action": [letter.pk]}
    )
    letter.refresh_from_db()
    assert letter.status == "skipped"
    assert {r[0]: r for r in dump(PG, prefix)}[stream][3] == [1, 2]
