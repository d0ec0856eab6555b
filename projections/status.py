"""Where every projection stands: checkpoint, log end, lag, dead letters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from projections import log as kafka_log
from projections import registry
from projections.targets import target_for


@dataclass(frozen=True)
class PartitionStatus:
    projection: str
    topic: str
    partition: int
    checkpoint: int
    log_end: int
    dead_letters: int

    @property
    def lag(self) -> int:
        return max(0, self.log_end - self.checkpoint)


def partitions(topic: str) -> list[int]:
    metadata = kafka_log.consumer().list_topics(topic, timeout=10)
    return sorted(metadata.topics[topic].partitions) if topic in metadata.topics else []


def status(names: list[str] | None = None) -> list[PartitionStatus]:
    selected = (
        [registry.consumer(n) for n in names] if names else list(registry.consumers().values())
    )
    with connection.cursor() as cur:
        cur.execute(
            "SELECT projection, topic, partition, count(*) FROM proj_dead_letter "
            "WHERE status IN ('parked', 'blocked') GROUP BY 1, 2, 3"
        )
        dead = {(r[0], r[1], r[2]): r[3] for r in cur.fetchall()}
    rows = []
    for projection in selected:
        target = target_for(projection)
        for topic in registry.topics_of(projection):
            for partition in partitions(topic):
                rows.append(
                    PartitionStatus(
                        projection.name,
                        topic,
                        partition,
                        target.next_offset(topic, partition),
                        kafka_log.log_end(topic, partition),
                        dead.get((projection.name, topic, partition), 0),
                    )
                )
    return rows


def partitions_with_lag() -> Iterator[tuple[str, str, int]]:
    for row in status():
        if row.lag > 0:
            yield row.projection, row.topic, row.partition
