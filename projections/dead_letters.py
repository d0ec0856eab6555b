"""Operating on dead letters: list, redrive (retry), skip.

A parked event holds its stream: later events of the stream are dead-lettered behind it as
"blocked", in order. A redrive takes the partition's ownership lock (so no worker applies that
partition meanwhile) and applies the stream's dead letters in offset order; it stops at the first
one that still fails, which stays parked with the new error. Skipping marks a parked event as
never to be applied; the events blocked behind it then need a redrive.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from eventstore.events import EventEnvelope
from eventstore.serialization import decode_envelope
from projections import locks, reactions, registry
from projections.models import DeadLetter
from projections.targets import target_for

ACTIVE = (DeadLetter.Status.PARKED, DeadLetter.Status.BLOCKED)


class DeadLetterError(Exception):
    pass


@dataclass
class Redrive:
    resolved: int = 0
    still_parked: DeadLetter | None = None


def active(projection: str | None = None) -> list[DeadLetter]:
    qs = DeadLetter.objects.filter(status__in=ACTIVE)
    if projection:
        qs = qs.filter(projection=projection)
    return list(qs.order_by("projection", "topic", "partition", "offset"))


def redrive(projection_name: str, stream_id: str, *, lock_timeout: float = 30.0) -> Redrive:
    apply = _redriver(projection_name)
    letters = list(
        DeadLetter.objects.filter(
            projection=projection_name, stream_id=stream_id, status__in=ACTIVE
        ).order_by("offset")
    )
    result = Redrive()
    if not letters:
        return result
    topic, partition = letters[0].topic, letters[0].partition
    _lock(projection_name, topic, partition, lock_timeout)
    try:
        events = registry.event_registry()
        # Re-read under the lock: a worker may have blocked more events meanwhile.
        letters = list(
            DeadLetter.objects.filter(
                projection=projection_name, stream_id=stream_id, status__in=ACTIVE
            ).order_by("offset")
        )
        for letter in letters:
            envelope = decode_envelope(events, bytes(letter.message))
            try:
                apply(envelope, letter.pk)
            except Exception as exc:  # noqa: BLE001 - the handler still fails: keep it parked
                DeadLetter.objects.filter(pk=letter.pk).update(
                    status=DeadLetter.Status.PARKED,
                    error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                    attempts=letter.attempts + 1,
                )
                result.still_parked = letter
                return result
            result.resolved += 1
        return result
    finally:
        locks.unlock(projection_name, topic, partition)


def _redriver(name: str) -> Callable[[EventEnvelope, int], None]:
    """How a dead letter of `name` is applied: by its read model's target, or by the reaction
    on the facts as of the letter's position."""
    if name in registry.reactions():
        reaction = registry.reaction(name)
        return lambda envelope, letter_id: reactions.apply_redrive(reaction, envelope, letter_id)
    return target_for(registry.get(name)).apply_redrive


def redrive_all(projection_name: str | None = None) -> dict[tuple[str, str], Redrive]:
    streams = sorted({(d.projection, d.stream_id) for d in active(projection_name)})
    return {(p, s): redrive(p, s) for p, s in streams}


def skip(dead_letter_id: int) -> DeadLetter:
    with transaction.atomic():
        letter = DeadLetter.objects.select_for_update().filter(pk=dead_letter_id).first()
        if letter is None:
            raise DeadLetterError(f"no dead letter {dead_letter_id}")
        if letter.status != DeadLetter.Status.PARKED:
            raise DeadLetterError(
                f"dead letter {dead_letter_id} is {letter.status}; only a parked one can be "
                "skipped (blocked ones wait for a redrive)"
            )
        letter.status = DeadLetter.Status.SKIPPED
        letter.resolved_at = timezone.now()
        letter.save(update_fields=["status", "resolved_at"])
        return letter


def _lock(projection: str, topic: str, partition: int, timeout: float) -> None:
    try:
        locks.acquire(projection, topic, partition, timeout)
    except locks.Busy as exc:
        raise DeadLetterError(f"{exc}; try again") from None
