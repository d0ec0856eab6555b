"""The engine's own tables: checkpoints of Postgres projections and dead letters."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class Checkpoint(models.Model):
    """Next offset to read, per (projection, topic, partition). Written in the same transaction
    as the read-model rows of a Postgres projection. Redis projections keep theirs in Redis."""

    projection = models.CharField(max_length=200)
    topic = models.CharField(max_length=255)
    partition = models.IntegerField()
    next_offset = models.BigIntegerField()
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "proj_checkpoint"
        constraints = [
            models.UniqueConstraint(
                fields=["projection", "topic", "partition"], name="proj_checkpoint_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.projection} {self.topic}[{self.partition}] @ {self.next_offset}"


class DeadLetter(models.Model):
    """An event a projection could not apply (parked), or one waiting behind it (blocked)."""

    class Status(models.TextChoices):
        PARKED = "parked", "parked: its handler failed"
        BLOCKED = "blocked", "blocked: waits behind a parked event of its stream"
        RESOLVED = "resolved", "resolved by a redrive"
        SKIPPED = "skipped", "skipped by an operator"

    projection = models.CharField(max_length=200)
    topic = models.CharField(max_length=255)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    stream_id = models.CharField(max_length=255)
    stream_version = models.IntegerField()
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=255)
    message = models.BinaryField()
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField(db_default=Now())
    resolved_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "proj_dead_letter"
        constraints = [
            models.UniqueConstraint(fields=["projection", "event_id"], name="proj_dead_letter_uniq")
        ]
        indexes = [models.Index(fields=["projection", "status", "stream_id"])]

    def __str__(self) -> str:
        return f"{self.projection}: {self.event_type} {self.stream_id} v{self.stream_version}"


class Rebuild(models.Model):
    """A rebuild under way: a stopped `replay_projections` resumes instead of starting over."""

    projection = models.CharField(max_length=200, primary_key=True)
    started_at = models.DateTimeField()

    class Meta:
        db_table = "proj_rebuild"

    def __str__(self) -> str:
        return f"rebuild of {self.projection} since {self.started_at}"


class SideEffectJob(models.Model):
    """One side effect of one event: pending until a task runs it, then done or failed."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    effect = models.CharField(max_length=200)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=255)
    stream_id = models.CharField(max_length=255)
    message = models.BinaryField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=Now())
    done_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "proj_side_effect"
        constraints = [
            models.UniqueConstraint(fields=["effect", "event_id"], name="proj_side_effect_uniq")
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.effect} for {self.event_type} {self.event_id}: {self.status}"


class ReactionCheckpoint(models.Model):
    """Where a reaction is in the store's log (the next outbox id to read), moved in the same
    transaction as its decisions; and from where it decides (an operator who skipped a range
    moved this ahead: the events before it only record facts)."""

    reaction = models.CharField(max_length=200, primary_key=True)
    next_position = models.BigIntegerField(default=0)
    decide_from = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "proj_reaction"

    def __str__(self) -> str:
        return f"{self.reaction} @ {self.next_position}"


class Fact(models.Model):
    """One fact a reaction keeps (eventstore.reaction.Facts), valid from the log position of
    the event that recorded it until the one that changed it (exclusive of neither: a read as
    of position p sees valid_from < p <= valid_to). The history is kept so that a decision,
    whenever it runs (in order, redriven, re-run by an operator), sees the facts as of its
    event."""

    reaction = models.CharField(max_length=200)
    scope = models.CharField(max_length=100)
    subject = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    value = models.JSONField()
    valid_from = models.BigIntegerField()
    valid_to = models.BigIntegerField(null=True)

    class Meta:
        db_table = "proj_fact"
        constraints = [
            models.UniqueConstraint(
                fields=["reaction", "scope", "subject", "key"],
                condition=models.Q(valid_to__isnull=True),
                name="proj_fact_one_open",
            )
        ]
        indexes = [
            models.Index(fields=["reaction", "scope", "subject", "key", "valid_from"]),
            models.Index(fields=["reaction", "scope", "key"]),
            models.Index(fields=["reaction", "key"]),
            models.Index(fields=["reaction", "subject"]),
        ]

    def __str__(self) -> str:
        return f"{self.reaction}: {self.scope} {self.subject} {self.key} from {self.valid_from}"
