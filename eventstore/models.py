"""Tables of the event store. Written through raw SQL in eventstore/postgres.py; the models exist
for migrations and for read-only admin views. Nothing may update or delete an es_event row."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now


class StoredEvent(models.Model):
    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    stream_id = models.CharField(max_length=255)
    stream_type = models.CharField(max_length=255)
    stream_version = models.IntegerField()
    event_type = models.CharField(max_length=255)
    schema_version = models.SmallIntegerField()
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(db_default=Now())
    actor = models.CharField(max_length=255, null=True)  # noqa: DJ001 - None: no actor
    correlation_id = models.UUIDField(null=True)
    causation_id = models.UUIDField(null=True)
    # The W3C traceparent of the span that appended the event (eventstore/tracing.py).
    trace_context = models.TextField(null=True)  # noqa: DJ001 - None: not traced
    payload = models.JSONField()

    class Meta:
        db_table = "es_event"
        constraints = [
            models.UniqueConstraint(
                fields=["stream_id", "stream_version"], name="es_event_stream_version_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(stream_version__gte=1), name="es_event_version_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} v{self.stream_version} {self.event_type}"


class Stream(models.Model):
    """One row per stream: its current version. The row lock serialises writers of a stream."""

    stream_id = models.CharField(max_length=255, primary_key=True)
    stream_type = models.CharField(max_length=255)
    version = models.IntegerField()

    class Meta:
        db_table = "es_stream"

    def __str__(self) -> str:
        return f"{self.stream_id} v{self.version}"


class Snapshot(models.Model):
    stream_id = models.CharField(max_length=255, primary_key=True)
    stream_type = models.CharField(max_length=255)
    version = models.IntegerField()
    schema_version = models.SmallIntegerField()
    state = models.JSONField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "es_snapshot"

    def __str__(self) -> str:
        return f"snapshot {self.stream_id} v{self.version}"


class Outbox(models.Model):
    """Events for the relay to publish, in id order. Insert-only: what has been published is
    RelayState (a frontier and its gaps), and where each event landed in Kafka is RelayBatch."""

    id = models.BigAutoField(primary_key=True)
    event = models.OneToOneField(
        StoredEvent, on_delete=models.DO_NOTHING, to_field="position", db_column="event_position"
    )
    topic = models.CharField(max_length=255)

    class Meta:
        db_table = "es_outbox"

    def __str__(self) -> str:
        return f"outbox {self.id} -> {self.topic}"


class Reservation(models.Model):
    """A unique value (scope, value) held by one stream, e.g. ("account.email", "a@b.c")."""

    scope = models.CharField(max_length=100)
    value = models.CharField(max_length=512)
    stream_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "es_reservation"
        constraints = [
            models.UniqueConstraint(fields=["scope", "value"], name="es_reservation_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.scope}={self.value} ({self.stream_id})"


class IdempotencyKey(models.Model):
    key = models.CharField(max_length=255, primary_key=True)
    fingerprint = models.CharField(max_length=64)
    result = models.JSONField(null=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "es_idempotency"

    def __str__(self) -> str:
        return f"idempotency {self.key}"


class SubjectKey(models.Model):
    """A person's key for the personal fields of their events; deleted on erasure."""

    subject_id = models.TextField(primary_key=True)
    key = models.BinaryField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "es_subject_key"

    def __str__(self) -> str:
        return self.subject_id


class RelayMark(models.Model):
    """Per Kafka partition, the highest offset the relay has marked published. Everything a
    crashed relay published but did not mark lies after it, so a restart reads only that
    much of each partition's tail to recover it."""

    pk = models.CompositePrimaryKey("topic", "kafka_partition")
    topic = models.TextField()
    kafka_partition = models.IntegerField()
    kafka_offset = models.BigIntegerField()

    class Meta:
        db_table = "es_relay_mark"

    def __str__(self) -> str:
        return f"{self.topic}[{self.kafka_partition}] marked up to {self.kafka_offset}"


class RelayState(models.Model):
    """The relay's progress through the outbox (one row). Every outbox id up to `frontier` has
    been published, except those inside the gaps [gap_lo[i], gap_hi[i]]: ids seen missing
    while later ones were visible, which a transaction still open may yet commit. Written in
    the same transaction as the batch records that publish them."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    frontier = models.BigIntegerField()
    gap_lo = ArrayField(models.BigIntegerField(), default=list)
    gap_hi = ArrayField(models.BigIntegerField(), default=list)
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "es_relay_state"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="es_relay_state_one")]

    def __str__(self) -> str:
        return f"relay frontier {self.frontier}, {len(self.gap_lo)} gaps"


class RelayBatch(models.Model):
    """The events of one published batch that went to one topic: where each of their outbox
    rows landed in Kafka (same index in each array). A row per batch and topic instead of a mark
    on every outbox row; es_outbox_position(id) looks an event up through a GiST index on
    [lo, hi]. The arrays are stored uncompressed: compressing them cost more than writing."""

    id = models.BigAutoField(primary_key=True)
    topic = models.TextField()
    lo = models.BigIntegerField()
    hi = models.BigIntegerField()
    outbox_ids = ArrayField(models.BigIntegerField())
    partitions = ArrayField(models.IntegerField())
    offsets = ArrayField(models.BigIntegerField())
    published_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "es_relay_batch"

    def __str__(self) -> str:
        return f"relay batch {self.id}: outbox {self.lo}..{self.hi}"
