"""Creating and inspecting the Kafka topics of the event log (confluent-kafka AdminClient)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewTopic,
    OffsetSpec,
)


def topic_name(module: str) -> str:
    """The topic of a module's events: `<KAFKA_TOPIC_PREFIX><module>.events` (the one place
    that names them; config/settings/kafka.py spells the same for KAFKA_TOPICS)."""
    from django.conf import settings

    return f"{settings.KAFKA_TOPIC_PREFIX}{module}.events"


def admin_client(bootstrap_servers: str, *, timeout_ms: int = 5000) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": timeout_ms})


def ensure_topics(
    bootstrap_servers: str, topics: Mapping[str, Mapping[str, Any]], *, timeout: float = 30.0
) -> dict[str, str]:
    """Create the topics that do not exist yet. Returns {topic: "created" | "exists"}."""
    admin = admin_client(bootstrap_servers)
    existing = set(admin.list_topics(timeout=timeout).topics)
    outcome = {name: "exists" for name in topics if name in existing}
    new = [
        NewTopic(
            name,
            num_partitions=int(spec["partitions"]),
            replication_factor=int(spec.get("replication_factor", 1)),
            config=dict(spec.get("config", {})),
        )
        for name, spec in topics.items()
        if name not in existing
    ]
    if new:
        for name, future in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                future.result()
                outcome[name] = "created"
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
                outcome[name] = "exists"
        _wait_for_leaders(admin, [t.topic for t in new], timeout)
    return outcome


def _wait_for_leaders(admin: Any, names: list[str], timeout: float) -> None:
    """A created topic answers "not leader for partition" until each partition has a leader:
    wait until the metadata names one for every partition and the leaders answer an offset
    query (the metadata can name a leader a moment before it serves the partition)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout).topics
        if all(
            name in topics
            and topics[name].partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in names
        ) and _leaders_answer(admin, {name: list(topics[name].partitions) for name in names}):
            return
        time.sleep(0.1)


def _leaders_answer(admin: Any, partitions: dict[str, list[int]]) -> bool:
    try:
        log_ends(admin, [(t, p) for t, ps in partitions.items() for p in ps])
    except KafkaException:
        return False
    return True


def log_ends(admin: Any, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Each partition's end (high watermark), in one request per leader."""
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    wanted = {TopicPartition(t, p): latest for t, p in partitions}
    return {
        (tp.topic, tp.partition): int(future.result().offset)
        for tp, future in admin.list_offsets(wanted, request_timeout=5).items()
    }


def delete_topics(bootstrap_servers: str, names: list[str], *, timeout: float = 30.0) -> None:
    if not names:
        return
    admin = admin_client(bootstrap_servers)
    for future in admin.delete_topics(names, operation_timeout=timeout).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "UNKNOWN_TOPIC_OR_PART":
                raise
