"""Celery tasks sent together (eventstore.sending), on the real RabbitMQ: every task arrives, its
confirm awaited with the others' rather than one at a time; if sending together fails halfway,
every task is sent again the ordinary way and none is lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from celery import current_app

from eventstore import sending
from eventstore.sending import TaskMessage, send_tasks
from tests.support.broker import TASK, delete_queue, delivered


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of the test's own; this thread's channel for sending together opened afresh."""
    sending.drop_channel()
    name = f"tests-sending-{uuid.uuid4().hex[:8]}"
    yield name
    delete_queue(name)


@pytest.fixture
def one_by_one(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The tasks sent the ordinary way: Celery's send_task, which awaits each one's confirm."""
    sent: list[object] = []
    ordinary = sending._send_each

    def counted(tasks: Sequence[TaskMessage]) -> None:
        sent.extend(task.args[0] for task in tasks)
        ordinary(tasks)

    monkeypatch.setattr(sending, "_send_each", counted)
    return sent


def test_tasks_sent_together_all_arrive_with_no_confirm_awaited_one_by_one(
    queue: str, one_by_one: list[object]
) -> None:
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(50)])
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(50, 60)])
    assert sorted(delivered(queue)) == list(range(60))
    assert one_by_one == []
    own = sending._local.channel
    assert own.published == 60 and not own.unconfirmed  # one channel, every tag confirmed


def test_one_task_goes_the_ordinary_way(queue: str, one_by_one: list[object]) -> None:
    send_tasks([TaskMessage(TASK, [7], {"queue": queue})])
    assert delivered(queue) == [7]
    assert one_by_one == [7]


def test_a_connection_lost_before_the_confirms_sends_every_task_again(
    queue: str, one_by_one: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(2)])  # (a channel)
    assert sorted(delivered(queue)) == [0, 1]
    broken = sending._local.channel

    def lost(**_: Any) -> None:
        raise ConnectionResetError("the broker went away before confirming")

    monkeypatch.setattr(broken.connection, "drain_events", lost)
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(10, 30)])
    # Published once together (unconfirmed), then each again with its own confirm: all there,
    # some twice, none lost; the broken channel is dropped and the next batch opens another.
    arrived = delivered(queue)
    assert set(arrived) == set(range(10, 30))
    assert one_by_one == list(range(10, 30))
    assert sending._local.channel is None
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(40, 45)])
    assert sorted(delivered(queue)) == list(range(40, 45))
    assert sending._local.channel is not broken and one_by_one == list(range(10, 30))


def test_a_long_list_goes_in_batches_of_at_most_max_together(
    queue: str, one_by_one: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sending, "MAX_TOGETHER", 7)
    sizes: list[int] = []
    together = sending._Channel.send

    def counted(self: sending._Channel, tasks: Sequence[TaskMessage]) -> None:
        sizes.append(len(tasks))
        together(self, tasks)

    monkeypatch.setattr(sending._Channel, "send", counted)
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(20)])
    assert sizes == [7, 7, 6]
    assert sorted(delivered(queue)) == list(range(20)) and one_by_one == []


def test_an_interrupt_while_waiting_drops_the_channel_and_is_raised(
    queue: str, one_by_one: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its count of tags is not to be trusted after that: the next batch opens another."""
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(2)])
    interrupted = sending._local.channel

    def interrupt(**_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(interrupted.connection, "drain_events", interrupt)
    with pytest.raises(KeyboardInterrupt):
        send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(2, 5)])
    assert sending._local.channel is None and one_by_one == []
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(5, 8)])
    assert sending._local.channel is not interrupted
    assert set(delivered(queue)) == set(range(8))  # (2-4 published before the interrupt)


def test_with_task_sent_events_on_each_task_goes_the_ordinary_way(
    queue: str, one_by_one: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Celery then publishes an event beside each task, on the same channel: the tags counted
    here would not be the broker's."""
    monkeypatch.setitem(current_app.conf, "task_send_sent_event", True)
    send_tasks([TaskMessage(TASK, [n], {"queue": queue}) for n in range(3)])
    assert one_by_one == [0, 1, 2]
    assert sorted(delivered(queue)) == [0, 1, 2]
