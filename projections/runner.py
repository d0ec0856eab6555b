"""Catching a projection up on one partition: batches applied atomically with the checkpoint,
poison events parked in dead letters with their stream behind them, other streams going on."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from confluent_kafka import KafkaException, Message
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from eventstore import metrics, tracing
from eventstore.events import EventEnvelope, EventRegistry
from eventstore.projection import Projection
from eventstore.serialization import decode_envelope, peek_event_type
from projections import log as kafka_log
from projections.targets import Target

logger = logging.getLogger("projections")

# Failures of the servers, not of a handler: the task retries later, nothing is parked.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
)


@dataclass
class CatchUp:
    applied: int = 0
    dead_lettered: int = 0
    next_offset: int = 0
    reached_end: bool = False
    conflicts: int = 0


def catch_up(
    projection: Projection,
    target: Target,
    topic: str,
    partition: int,
    *,
    registry: EventRegistry,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    end: int | None = None,
    replay: bool = False,
) -> CatchUp:
    """Apply the partition from the projection's checkpoint: up to `end` if given, else up to
    whatever end of the partition the reads meet (no watermark query: one round trip less per
    wake-up). Stops early after `max_seconds`."""
    batch_size = batch_size or settings.PROJECTIONS_BATCH_SIZE
    ensure_ready(target)
    result = CatchUp()
    started = time.monotonic()
    offset = target.next_offset(topic, partition)
    at_end = end is not None and offset >= end
    try:
        while not at_end:
            limit = batch_size if end is None else min(batch_size, end - offset)
            # keep: the partition stays assigned between batches, its next messages prefetched.
            messages, eof = kafka_log.read_to_end(topic, partition, offset, limit, keep=True)
            at_end = eof or (end is not None and offset + len(messages) >= end)
            if not messages:
                if not eof:
                    # Neither a message nor the end within the read's timeout: Kafka is not
                    # answering. Fail like any server failure (the task retries with backoff).
                    raise KafkaException(f"{topic}[{partition}]: no answer from Kafka at {offset}")
                break  # at the partition's end (at_end is set)
            # (read_to_end checked that the messages run on from `offset` without a gap.)
            applied = apply_batch(
                projection, target, topic, partition, messages, registry, result, replay=replay
            )
            if not applied:
                # Someone else moved the checkpoint (an overlapping run): start from theirs.
                result.conflicts += 1
                offset = target.next_offset(topic, partition)
                at_end = end is not None and offset >= end
                continue
            offset = (messages[-1].offset() or 0) + 1
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                break
        result.next_offset = offset
        result.reached_end = at_end
        return result
    finally:
        kafka_log.release()


_ready: set[tuple[str, str | None]] = set()


def ensure_ready(target: Target) -> None:
    """Run a Postgres projection's setup() (its CREATE TABLE IF NOT EXISTS) once per process."""
    from projections.targets import PostgresTarget

    if isinstance(target, PostgresTarget):
        key = (target.checkpoint_name, target.schema)
        if key not in _ready:
            target.setup()  # (it serializes itself against other processes)
            _ready.add(key)


MAX_LOGGED_IDS = 20


def count_applied(name: str, envelopes: Sequence[EventEnvelope], *, replay: bool = False) -> None:
    """The metrics of an applied batch: its events, and on the live path each event's
    commit-to-applied latency."""
    metrics.PROJECTION_EVENTS.labels(name, "rebuild" if replay else "live").inc(len(envelopes))
    if not replay:
        now = datetime.now(UTC)
        metrics.observe_many(
            metrics.PROJECTION_SECONDS.labels(name),
            ((now - e.occurred_at).total_seconds() for e in envelopes),
        )


def _correlations(envelopes: Iterable[EventEnvelope]) -> list[str]:
    return sorted({str(e.correlation_id or e.event_id) for e in envelopes})[:MAX_LOGGED_IDS]


def log_applied(
    name: str,
    topic: str,
    partition: int,
    offset: int,
    envelopes: Sequence[EventEnvelope],
    started: float,
    *,
    replay: bool = False,
) -> None:
    """One line per applied batch: where, how many, how long, and the correlation ids of its
    events (the first few), so a command's id finds the batches that applied it. Counted in
    the metrics too, with each event's commit-to-applied latency on the live path."""
    if not envelopes:
        return
    count_applied(name, envelopes, replay=replay)
    logger.info(
        "%s: applied %d events at %s[%s]@%s",
        name,
        len(envelopes),
        topic,
        partition,
        offset,
        extra={
            "projection": name,
            "topic": topic,
            "partition": partition,
            "first_offset": offset,
            "events": len(envelopes),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "correlation_ids": _correlations(envelopes),
        },
    )


def log_applied_together(
    parts: Sequence[tuple[str, str, int, int, Sequence[EventEnvelope]]], started: float
) -> None:
    """`log_applied` for the parts a follower applied together (projection, topic, partition,
    first offset, envelopes): the metrics of each, and one line for them all (a line per part
    was a tenth of the follower's time at a steady pace)."""
    applied = [part for part in parts if part[4]]
    if not applied:
        return
    for name, _topic, _partition, _offset, envelopes in applied:
        count_applied(name, envelopes)
    names = list(dict.fromkeys(part[0] for part in applied))
    where = list(dict.fromkeys(f"{t}[{p}]@{o}" for _n, t, p, o, _e in applied))
    events = {id(e): e for part in applied for e in part[4]}
    logger.info(
        "%s: applied %d events at %s",
        ", ".join(names),
        len(events),
        ", ".join(where),
        extra={
            "projections": names,
            "parts": [
                {"projection": n, "topic": t, "partition": p, "first_offset": o, "events": len(e)}
                for n, t, p, o, e in applied
            ],
            "events": len(events),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "correlation_ids": _correlations(events.values()),
        },
    )


def apply_batch(
    projection: Projection,
    target: Target,
    topic: str,
    partition: int,
    messages: Sequence[Message],
    registry: EventRegistry,
    result: CatchUp,
    *,
    replay: bool = False,
) -> bool:
    expected = messages[0].offset() or 0
    next_offset = (messages[-1].offset() or 0) + 1
    parked = parked_streams(target.checkpoint_name)
    relevant = relevant_envelopes(projection, messages, registry)
    if not any(env.stream_id in parked for _, env in relevant):
        try:
            started = time.perf_counter()
            envelopes = [env for _, env in relevant]
            with tracing.events_span(
                f"apply {projection.name}",
                [e.trace_context for e in envelopes],
                replay=replay,
                attributes={"projection": projection.name, "events": len(envelopes)},
            ):
                ok = target.apply(
                    topic, partition, envelopes, expected_offset=expected, next_offset=next_offset
                )
            if ok:
                result.applied += len(relevant)
                log_applied(
                    projection.name, topic, partition, expected, envelopes, started, replay=replay
                )
            return ok
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - a handler failed: find the poison one by one
            logger.warning(
                "%s: batch at %s[%s]@%s failed; isolating the poison event",
                projection.name,
                topic,
                partition,
                expected,
                exc_info=True,
            )
    return _apply_one_by_one(projection, target, topic, partition, messages, relevant, result)


def relevant_envelopes(
    projection: Projection,
    messages: Sequence[Message],
    registry: EventRegistry,
    decoded: dict[int, EventEnvelope] | None = None,
) -> list[tuple[Message, EventEnvelope]]:
    """The messages `projection` handles, decoded (`decoded` caches envelopes by offset for
    other projections reading the same messages). A message that is no envelope raises if its
    header names a type the projection handles."""
    relevant: list[tuple[Message, EventEnvelope]] = []
    for msg in messages:
        offset = msg.offset() or 0
        env = decoded.get(offset) if decoded is not None else None
        if env is None:
            value = msg.value() or b""
            # From the body (cheaper than the headers).
            event_type = peek_event_type(value) or kafka_log.header(msg, "event_type")
            if event_type is None or not projection.handles_type(event_type):
                continue
            env = decode_envelope(registry, value, event_type=event_type)
            if decoded is not None:
                decoded[offset] = env
        elif not projection.handles_type(env.event_type):
            continue
        relevant.append((msg, env))
    return relevant


def _apply_one_by_one(
    projection: Projection,
    target: Target,
    topic: str,
    partition: int,
    messages: Sequence[Message],
    relevant: list[tuple[Message, EventEnvelope]],
    result: CatchUp,
) -> bool:
    envelopes = {msg.offset(): env for msg, env in relevant}
    offset = messages[0].offset() or 0
    parked = parked_streams(target.checkpoint_name)  # grows as this batch parks streams
    for msg in messages:
        msg_offset = msg.offset() or 0
        env = envelopes.get(msg_offset)
        dead: list[dict[str, Any]] = []
        if env is not None:
            if env.stream_id in parked:
                dead.append(
                    _dead_letter(target.checkpoint_name, topic, partition, msg, env, "blocked")
                )
            else:
                failure = _try_alone(target, topic, partition, env, msg_offset)
                if failure is None:
                    result.applied += 1
                    offset = msg_offset + 1
                    continue
                if not isinstance(failure, tuple):
                    return False  # "conflict": another runner moved the checkpoint
                dead.append(
                    _dead_letter(
                        target.checkpoint_name, topic, partition, msg, env, "parked", failure
                    )
                )
                parked.add(env.stream_id)
        if not target.apply(
            topic,
            partition,
            [],
            expected_offset=offset,
            next_offset=msg_offset + 1,
            dead_letters=dead,
        ):
            return False
        result.dead_lettered += len(dead)
        offset = msg_offset + 1
    return True


def _try_alone(
    target: Target,
    topic: str,
    partition: int,
    env: EventEnvelope,
    offset: int,
) -> str | tuple[str, str] | None:
    """Apply one event with bounded retries: None if applied, "conflict", or the failure as
    (error, traceback)."""
    attempts = max(1, settings.PROJECTIONS_MAX_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        try:
            if target.apply(
                topic, partition, [env], expected_offset=offset, next_offset=offset + 1
            ):
                return None
            return "conflict"
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - the handler's failure, kept with the letter
            if attempt == attempts:
                return f"{type(exc).__name__}: {exc}".strip()[:1000], traceback.format_exc()
            time.sleep(settings.PROJECTIONS_RETRY_BACKOFF * attempt)
    return None  # unreachable


def _dead_letter(
    name: str,
    topic: str,
    partition: int,
    msg: Message,
    env: EventEnvelope,
    status: str,
    failure: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    return dead_letter_row(
        name, topic, partition, msg.offset() or 0, env, msg.value() or b"", status, failure
    )


def dead_letter_row(
    name: str,
    topic: str,
    partition: int,
    offset: int,
    env: EventEnvelope,
    message: bytes,
    status: str,
    failure: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    """A dead letter as `targets.write_dead_letters` writes it (and logs it)."""
    error, trace = failure
    logger.error("%s: %s %s v%s %s", name, status, env.stream_id, env.stream_version, error)
    return {
        "projection": name,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "stream_id": env.stream_id,
        "stream_version": env.stream_version,
        "event_id": env.event_id,
        "event_type": env.event_type,
        "message": message,
        "status": status,
        "error": error,
        "traceback": trace,
        "attempts": settings.PROJECTIONS_MAX_ATTEMPTS if status == "parked" else 0,
    }


def parked_streams(projection_name: str) -> set[str]:
    return parked_streams_of([projection_name]).get(projection_name, set())


def parked_streams_of(projection_names: list[str]) -> dict[str, set[str]]:
    """The streams waiting behind a dead letter, per projection."""
    found: dict[str, set[str]] = {}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT projection, stream_id FROM proj_dead_letter "
            "WHERE projection = ANY(%s) AND status IN ('parked', 'blocked')",
            [projection_names],
        )
        for projection, stream_id in cur.fetchall():
            found.setdefault(projection, set()).add(stream_id)
    return found


__all__ = [
    "INFRASTRUCTURE_ERRORS",
    "CatchUp",
    "apply_batch",
    "catch_up",
    "dead_letter_row",
    "relevant_envelopes",
]
