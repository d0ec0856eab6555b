"""RabbitMQ as a cluster (`make test-cluster` starts three nodes of its own, on ports 16672,
16674 and 16676, and points this run at all of them through RABBITMQ_NODES): the project's
queues are quorum queues replicated on the three nodes; the node the worker is connected to is
killed (-9) while side-effect tasks run, and every mail is still sent, once, before that node is
back, with no sweep re-enqueuing anything: no task the broker had was lost. The node then comes
back and rejoins, and nothing is sent again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django_redis import get_redis_connection
from kombu import Queue

from config.celery import app
from eventstore import sending
from projections import registry
from projections.models import SideEffectJob
from projections.status import partitions
from projections.targets import target_for
from projections.tasks import wake
from tests.support.broker import TASK, delete_queue, delivered
from tests.support.engine import kafka_end, own_log, publish, start_worker
from tests.support.pg import ROOT, wait_for
from tests.support.projections import SLOW_AMOUNT, DepositMail

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLUSTER_DIR = Path(os.environ.get("RABBITMQ_CLUSTER_STACK_DIR", ROOT / ".stack" / "cluster"))
MAIL = "tests.deposit_mail"
STREAMS, DEPOSITS = 30, 10


def stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "stack" / "stack.py"), *args],
        env={**os.environ, "STACK_DIR": str(CLUSTER_DIR), "STACK_RABBITMQ_NODES": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def queues() -> dict[str, dict[str, object]]:
    """This run's queues as node 2 lists them: type and members."""
    done = stack(
        "rabbitmqctl",
        "--node",
        "2",
        "list_queues",
        "-p",
        settings.RABBITMQ_VHOST,
        "name",
        "type",
        "members",
        "--formatter",
        "json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {q["name"]: q for q in json.loads(done.stdout)}


def mails(prefix: str) -> list[str]:
    raw = get_redis_connection("default").lrange(DepositMail.outbox_key(), 0, -1)
    return [m.decode() for m in raw if m.decode().startswith(prefix)]


def tasks_sent_together_pass_node_1_by(monkeypatch: pytest.MonkeyPatch) -> None:
    """With node 1 down, a channel for sending tasks together (eventstore.sending) opened
    afresh tries the nodes in turn: the tasks go together through another, none the ordinary
    way."""
    sending.drop_channel()
    one_by_one: list[object] = []
    monkeypatch.setattr(sending, "_send_each", one_by_one.extend)
    queue = Queue(
        f"tests-sending-{uuid.uuid4().hex[:8]}", queue_arguments={"x-queue-type": "quorum"}
    )
    try:
        sending.send_tasks([sending.TaskMessage(TASK, [n], {"queue": queue}) for n in range(20)])
        assert sorted(delivered(queue.name)) == list(range(20))
        assert one_by_one == []
    finally:
        monkeypatch.undo()
        delete_queue(queue.name)


def test_the_project_declares_quorum_queues_on_every_node(isolated_servers: None) -> None:
    with app.connection_for_write() as conn:
        for queue in app.amqp.queues.values():
            queue.bind(conn.default_channel).declare()
    found = queues()
    for name in settings.TASK_QUEUE_NAMES:
        assert found[name]["type"] == "quorum", found[name]
        assert len(found[name]["members"]) == 3, found[name]  # type: ignore[arg-type]


def test_a_node_killed_while_side_effects_run_loses_no_task_and_sends_nothing_twice(
    isolated_servers: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    effect = registry.consumer(MAIL)
    target = target_for(effect)
    prefix = f"rmq-{uuid.uuid4().hex[:8]}"
    with own_log():
        for topic in registry.topics_of(effect):  # this test's mails only
            for p in partitions(topic):
                target.apply(topic, p, [], expected_offset=0, next_offset=kafka_end(topic, p))
        publish(prefix, streams=STREAMS, deposits=DEPOSITS, amount=SLOW_AMOUNT)
        worker = start_worker(tmp_path / "worker.log", "-c", "2", queues="projections,side_effects")
        try:
            for topic in registry.topics_of(effect):
                for p in partitions(topic):
                    wake(MAIL, topic, p)
            wanted = STREAMS * DEPOSITS
            wait_for("a tenth of the mails", lambda: len(mails(prefix)) >= wanted // 10, 120)
            beam = int((CLUSTER_DIR / "run" / "rabbitmq-1-erlang.pid").read_text())
            os.kill(beam, signal.SIGKILL)  # the node the worker and this process talk to
            sent_at_kill = len(mails(prefix))
            # Everything still gets done on the two nodes left, with no sweep re-enqueuing.
            wait_for("every mail, with node 1 down", lambda: len(mails(prefix)) >= wanted, 240)
            assert sent_at_kill < wanted, "the kill came after the work: nothing was tested"
            tasks_sent_together_pass_node_1_by(monkeypatch)
            wait_for(
                "every job done",
                lambda: (
                    not SideEffectJob.objects.filter(stream_id__startswith=prefix)
                    .exclude(status="done")
                    .exists()
                ),
                60,
            )
            back = stack("up", "rabbitmq")
            assert back.returncode == 0, back.stdout + back.stderr
            assert len(queues()[settings.TASK_QUEUE_NAMES[0]]["members"]) == 3  # type: ignore[arg-type]
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    sent = mails(prefix)
    assert len(sent) == wanted and len(set(sent)) == wanted, "a mail lost or sent twice"
    assert SideEffectJob.objects.filter(stream_id__startswith=prefix).count() == wanted
