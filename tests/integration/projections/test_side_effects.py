"""Side effects run once per event, with retries, and never again when the log is re-read."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_redis import get_redis_connection

from projections import registry
from projections.models import SideEffectJob
from projections.status import partitions
from projections.targets import target_for
from projections.tasks import wake
from tests.support.engine import kafka_end, publish, start_worker
from tests.support.pg import wait_for
from tests.support.projections import FLAKY_AMOUNT, DepositMail

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
MAIL = "tests.deposit_mail"


def mails(prefix: str) -> list[str]:
    raw = get_redis_connection("default").lrange(DepositMail.outbox_key(), 0, -1)
    return [m.decode() for m in raw if m.decode().startswith(prefix)]


def move_checkpoints(to_end: bool) -> None:
    effect = registry.consumer(MAIL)
    target = target_for(effect)
    with connection.cursor() as cur:
        cur.execute("DELETE FROM proj_checkpoint WHERE projection = %s", [MAIL])
    if to_end:
        for topic in registry.topics_of(effect):
            for p in partitions(topic):
                target.apply(topic, p, [], expected_offset=0, next_offset=kafka_end(topic, p))


def wake_mail() -> None:
    for topic in registry.topics_of(registry.consumer(MAIL)):
        for p in partitions(topic):
            wake(MAIL, topic, p)


@pytest.mark.usefixtures("own_topics")
def test_each_event_is_mailed_once_retried_when_flaky_and_never_again_on_a_reread(
    tmp_path: Path,
) -> None:
    move_checkpoints(to_end=True)
    prefix = f"mail-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=3, deposits=2)
    publish(f"{prefix}-flaky", streams=1, deposits=1, amount=FLAKY_AMOUNT)
    worker = start_worker(tmp_path / "worker.log", "-c", "2", queues="projections,side_effects")
    try:
        wake_mail()

        def all_done() -> bool:
            jobs = SideEffectJob.objects.filter(stream_id__startswith=prefix)
            return jobs.count() == 7 and not jobs.exclude(status="done").exists()

        wait_for("every mail job to be done", all_done, 240)
        assert len(mails(prefix)) == 7 and len(set(mails(prefix))) == 7
        flaky = SideEffectJob.objects.get(stream_id=f"{prefix}-flaky-0")
        assert flaky.attempts == 3 and "SMTP" in flaky.error

        move_checkpoints(to_end=False)  # the whole log is read again, as a rebuild would
        wake_mail()
        wait_for(
            "the re-read to finish",
            lambda: (
                sum(
                    target_for(registry.consumer(MAIL)).next_offset(t, p)
                    for t in registry.topics_of(registry.consumer(MAIL))
                    for p in partitions(t)
                )
                == sum(
                    kafka_end(t, p)
                    for t in registry.topics_of(registry.consumer(MAIL))
                    for p in partitions(t)
                )
            ),
            120,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert len(mails(prefix)) == 7, "no mail may be sent twice"
    assert SideEffectJob.objects.filter(stream_id__startswith=prefix).count() == 7


def test_side_effects_are_never_replayed() -> None:
    with pytest.raises(CommandError, match="side effect"):
        call_command("replay_projections", MAIL)


def one_mail_job(prefix: str) -> SideEffectJob:
    from tests.support.engine import catch_up_all_partitions

    move_checkpoints(to_end=True)
    publish(prefix, streams=1, deposits=1)  # one deposit: one mail job
    catch_up_all_partitions(MAIL)  # records the job, as a worker would
    return SideEffectJob.objects.get(stream_id__startswith=prefix)


def test_a_done_job_delivered_again_does_not_run_again() -> None:
    """acks_late redelivers a task whose worker died after the work; the sweep may enqueue a job
    twice: the job runs once whatever the number of deliveries."""
    from projections.tasks import run_side_effect

    prefix = f"again-{uuid.uuid4().hex[:8]}"
    job = one_mail_job(prefix)
    assert run_side_effect(job.pk) == "done"
    assert run_side_effect(job.pk) == "done"  # the same message, delivered again
    assert len(mails(prefix)) == 1
    assert SideEffectJob.objects.get(pk=job.pk).attempts == 1


def test_the_same_job_delivered_to_two_workers_at_once_runs_once() -> None:
    import threading

    from django.db import connections

    from projections.side_effects import run_job

    prefix = f"twice-{uuid.uuid4().hex[:8]}"
    job = one_mail_job(prefix)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver() -> None:
        try:
            start.wait()
            outcomes.append(run_job(job.pk, final_attempt=False))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["busy-or-missing", "done"], ["done", "done"])
    assert len(mails(prefix)) == 1


def test_a_batchs_jobs_are_recorded_in_one_statement_and_their_tasks_sent_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each batch of a partition records its jobs with one INSERT and sends their tasks in one
    call (eventstore.sending: their confirms awaited once), not a round trip and a confirm per
    job: in the follower, a side effect's cost per event delayed every other read model of its
    partitions."""
    from projections import wakeups
    from tests.support.engine import catch_up_all_partitions

    move_checkpoints(to_end=True)
    prefix = f"together-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=12, deposits=2)
    inserts: list[str] = []
    sent: list[list[list[object]]] = []  # each batch: its tasks' arguments

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("INSERT INTO proj_side_effect"):
            inserts.append(sql)
        return execute(sql, params, many, context)

    monkeypatch.setattr(wakeups, "send_tasks", lambda tasks: sent.append([t.args for t in tasks]))
    with connection.execute_wrapper(spy):
        catch_up_all_partitions(MAIL)
    jobs = SideEffectJob.objects.filter(stream_id__startswith=prefix)
    assert jobs.count() == 24
    assert sorted(int(str(args[0])) for batch in sent for args in batch) == sorted(
        j.pk for j in jobs
    )
    assert len(inserts) == len(sent) < 24  # a batch per partition with deposits: 12 streams
    assert any(len(batch) > 2 for batch in sent)


def test_the_sweep_sends_the_tasks_of_stale_pending_jobs_together_to_their_queues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pending jobs older than the sweep's age (their task lost) are sent again, in one call,
    each to its side effect's queue (an effect no longer registered: the default queue)."""
    from datetime import timedelta

    from django.utils import timezone

    from eventstore.queues import Queue
    from projections import wakeups
    from projections.tasks import sweep_side_effects

    prefix = f"sweep-{uuid.uuid4().hex[:8]}"
    job = one_mail_job(prefix)
    gone = SideEffectJob.objects.create(
        effect="tests.retired_effect",
        event_id=uuid.uuid4(),
        event_type="Deposited",
        stream_id=f"{prefix}-gone",
        message=b"",
    )
    fresh = SideEffectJob.objects.create(
        effect=MAIL, event_id=uuid.uuid4(), event_type="Deposited", stream_id=f"{prefix}-new"
    )
    old = timezone.now() - timedelta(minutes=5)
    SideEffectJob.objects.filter(pk__in=[job.pk, gone.pk]).update(created_at=old)
    sent: list[list[tuple[object, object]]] = []
    monkeypatch.setattr(
        wakeups,
        "send_tasks",
        lambda tasks: sent.append([(t.args[0], t.options["queue"]) for t in tasks]),
    )
    assert sweep_side_effects(older_than=60.0) == 2
    assert len(sent) == 1  # one call: their confirms awaited once
    assert sorted(sent[0], key=str) == sorted(
        [(job.pk, DepositMail.queue), (gone.pk, Queue.SIDE_EFFECTS)], key=str
    )
    assert fresh.pk not in [pk for batch in sent for pk, _queue in batch]


def test_jobs_whose_tasks_cannot_be_sent_stay_recorded_for_the_sweep(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker down after the commit: the batch stays applied (it is not applied again),
    its jobs pending, and a warning says the sweep will send them."""
    import logging

    from projections import wakeups
    from tests.support.engine import catch_up_all_partitions

    move_checkpoints(to_end=True)
    prefix = f"unsent-{uuid.uuid4().hex[:8]}"
    publish(prefix, streams=2, deposits=2)

    def broker_down(_tasks: Any) -> None:
        raise ConnectionRefusedError("RabbitMQ is down")

    monkeypatch.setattr(wakeups, "send_tasks", broker_down)
    with caplog.at_level(logging.WARNING, logger="projections.side_effects"):
        catch_up_all_partitions(MAIL)
    jobs = SideEffectJob.objects.filter(stream_id__startswith=prefix)
    assert jobs.count() == 4 and set(jobs.values_list("status", flat=True)) == {"pending"}
    assert any("the sweep will send them" in r.getMessage() for r in caplog.records)
