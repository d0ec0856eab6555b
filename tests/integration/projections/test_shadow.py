"""Zero-downtime rebuild: the live read model answers all along; the new one appears at once."""

from __future__ import annotations

import io
import threading
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_redis import get_redis_connection

from projections import registry, shadow
from projections.dump import dump as canonical_dump
from tests.support.engine import PG, REDIS, catch_up_all_partitions, publish

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
V2 = "ledger-v2"


def owners(name: str, prefix: str) -> set[str]:
    if name == PG:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT owner FROM test_ledger_balance WHERE stream_id LIKE %s",
                [f"{prefix}-%"],
            )
            return {row[0] for row in cur.fetchall()}
    client = get_redis_connection("default")
    from projections.targets import redis_namespace

    return {
        v.decode()
        for k, v in client.hgetall(f"{redis_namespace(REDIS)}:owner").items()
        if k.decode().startswith(prefix)
    }


@pytest.mark.usefixtures("own_topics")
@pytest.mark.parametrize("name", [PG, REDIS])
def test_reads_keep_answering_during_a_shadow_rebuild_and_see_the_new_version_after(
    name: str,
) -> None:
    prefix = f"shadow-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=20, deposits=30)
    catch_up_all_partitions(name)
    assert owners(name, prefix) == {"Ada"}

    get_redis_connection("default").set(f"{settings.REDIS_KEY_PREFIX}:{V2}", 1)
    errors: list[BaseException] = []
    reports: list[shadow.ShadowReport] = []

    def rebuild() -> None:
        try:
            reports.append(shadow.rebuild(name, restart=True, batch_size=200))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=rebuild)
    thread.start()
    seen: list[frozenset[str]] = []
    while thread.is_alive():
        seen.append(frozenset(owners(name, prefix)))  # every read answers, old or new
    thread.join()
    assert not errors, errors
    seen.append(frozenset(owners(name, prefix)))
    assert all(s in ({"Ada"}, {"ADA"}) for s in seen), "a read saw a half-built model"
    assert seen[0] == {"Ada"} and seen[-1] == {"ADA"}
    assert len(seen) > 3, "the rebuild must have overlapped reads"
    report = reports[0]
    # Each of the 20 rows differs (counted as one row gone and one new); in Redis, the one
    # hash of owners.
    assert report.swapped and report.differences == (40 if name == PG else 1)
    assert not shadow.in_progress(name)
    # After the swap the live model is exactly a fresh build of the new version.
    after = canonical_dump(registry.get(name))
    shadow.rebuild(name, restart=True, swap=False)
    from projections.shadow import _dump_shadow

    assert _dump_shadow(registry.get(name)) == after


@pytest.mark.usefixtures("own_topics")
def test_the_command_builds_compares_and_can_leave_the_live_model_alone() -> None:
    prefix = f"noswap-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=3, deposits=2)
    catch_up_all_partitions(PG)
    get_redis_connection("default").set(f"{settings.REDIS_KEY_PREFIX}:{V2}", 1)
    out = io.StringIO()
    call_command("replay_projections", PG, "--shadow", "--no-swap", stdout=out)
    assert "not swapped" in out.getvalue()
    assert owners(PG, prefix) == {"Ada"}
    call_command("replay_projections", PG, "--shadow", "--restart", stdout=io.StringIO())
    assert owners(PG, prefix) == {"ADA"}
