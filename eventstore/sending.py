"""Celery tasks sent together: their messages published one after another, and RabbitMQ's
confirms of all of them awaited once.

Celery sends each task on a channel in confirm mode (CELERY_BROKER_TRANSPORT_OPTIONS
`confirm_publish`) and waits for the broker's confirm before it returns. A quorum queue confirms
once the message is on a majority of its members' disks, so each wait costs a write to disk, and
on a cluster a round of Raft as well: about 1 ms on one node here, 10-20 ms on the three-node
cluster of `make test-cluster`. A side effect's batch of 20 jobs cost 20 such waits in a row, in
the follower, ahead of every other read model of its partitions (their lag went over a second
at 60 mails a second). Published together, their confirms come back together: one wait.

kombu has no API for it, so this holds a connection of its own (one per process and thread,
opened on first use), without Celery's confirm-per-message, puts its channel in confirm mode and
counts the delivery tags itself (a channel numbers its messages from 1 after confirm.select). If
anything goes wrong (the connection dropped, a nack, no confirm within CONFIRM_TIMEOUT), it drops
the connection and sends every task of the batch again the ordinary way, which retries and
reconnects: a task may then be sent twice, and the tasks sent this way are idempotent (a side
effect's job runs once, a wake-up's catch-up finds nothing left to do)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import current_app

log = logging.getLogger("eventstore.sending")

CONFIRM_TIMEOUT = 30.0  # seconds to wait for a batch's confirms before sending it again
MAX_TOGETHER = 500  # tasks a batch at most (a failure sends that many again, one by one)


@dataclass(frozen=True)
class TaskMessage:
    """A task to send: its name, positional arguments and send_task options (queue, countdown)."""

    name: str
    args: list[object]
    options: dict[str, Any] = field(default_factory=dict)


class Unconfirmed(Exception):
    """The broker refused (nacked) a message, or did not confirm it in time."""


class _Channel:
    """A connection and its one channel in confirm mode, whose delivery tags this counts."""

    def __init__(self) -> None:
        self.connection = current_app.connection_for_write(
            transport_options={"confirm_publish": False}  # (confirmed here, together)
        )
        try:
            # Each of the nodes once, in turn, without a pause (a node that is down is skipped).
            self.connection.ensure_connection(max_retries=max(0, len(self.connection.alt) - 1))
            channel: Any = self.connection.channel()  # (py-amqp's: confirm.select, its events)
            channel.confirm_select()
        except BaseException:
            self.close()
            raise
        channel.events["basic_ack"].add(self._ack)
        channel.events["basic_nack"].add(self._nack)
        self.producer = current_app.amqp.Producer(channel, auto_declare=False)
        self.published = 0  # the delivery tag of the last message published
        self.unconfirmed: set[int] = set()
        self.nacked = 0

    def _ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self.unconfirmed = {t for t in self.unconfirmed if t > tag}
        else:
            self.unconfirmed.discard(tag)

    def _nack(self, tag: int, multiple: bool) -> None:
        before = len(self.unconfirmed)
        self._ack(tag, multiple)
        self.nacked += before - len(self.unconfirmed)

    def send(self, tasks: Sequence[TaskMessage]) -> None:
        # The tags are counted here: one message per send_task (which holds while Celery sends
        # no task-sent event: send_tasks goes the ordinary way when it does).
        for task in tasks:
            current_app.send_task(
                task.name,
                args=task.args,
                ignore_result=True,
                producer=self.producer,
                retry=False,  # (a failure sends the batch again the ordinary way)
                **task.options,
            )
            self.published += 1
            self.unconfirmed.add(self.published)
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while self.unconfirmed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unconfirmed(f"{len(self.unconfirmed)} messages not confirmed in time")
            try:
                self.connection.drain_events(timeout=left)
            except TimeoutError:  # (socket.timeout too)
                continue  # (the deadline decides)
        if self.nacked:
            raise Unconfirmed(f"the broker refused {self.nacked} messages")

    def close(self) -> None:
        """Drop the connection without AMQP's close handshake (a broker that stopped reading,
        e.g. under a resource alarm, would hold it)."""
        try:
            self.connection.collect()
        except Exception:  # noqa: BLE001 - it is being dropped anyway
            log.debug("dropping the confirm channel failed", exc_info=True)


_local = threading.local()


def send_tasks(tasks: Sequence[TaskMessage]) -> None:
    """Send every task, its broker confirm awaited together with the others' (one task: the
    ordinary way). Returns once each is confirmed, or raises as Celery's send_task does."""
    if len(tasks) <= 1 or current_app.conf.task_send_sent_event:
        _send_each(tasks)
        return
    for start in range(0, len(tasks), MAX_TOGETHER):
        _send_together(tasks[start : start + MAX_TOGETHER])


def drop_channel() -> None:
    """Close this thread's channel for sending together, if it has one; the next batch opens
    another."""
    own: _Channel | None = getattr(_local, "channel", None)
    if own is not None:
        own.close()
    _local.channel = None


def _send_together(tasks: Sequence[TaskMessage]) -> None:
    pid = os.getpid()
    own: _Channel | None = getattr(_local, "channel", None)
    if own is not None and getattr(_local, "pid", None) != pid:
        own = None  # (a forked child: the parent's socket is not its own)
    try:
        if own is None:
            own = _local.channel = _Channel()
            _local.pid = pid
        own.send(tasks)
        return
    except BaseException as exc:
        # Whatever stopped it (an interrupt too), the channel's count of tags is not to be
        # trusted any more: dropped, and the next batch opens another.
        if own is not None:
            own.close()
        _local.channel = None
        if not isinstance(exc, Exception):
            raise
        # (The ordinary way below retries, reconnects, or raises.)
        log.warning("tasks sent together failed; sending each again", exc_info=True)
    _send_each(tasks)


def _send_each(tasks: Sequence[TaskMessage]) -> None:
    for task in tasks:
        current_app.send_task(task.name, args=task.args, ignore_result=True, **task.options)
