"""The Kafka event log: one topic per module, several partitions, unlimited retention."""

from config.env import env

KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
# Prefixed names isolate test runs (and let several deployments share one cluster).
KAFKA_TOPIC_PREFIX = env.str("KAFKA_TOPIC_PREFIX", default="")
KAFKA_TOPIC_PARTITIONS = env.int("KAFKA_TOPIC_PARTITIONS", default=6)
KAFKA_REPLICATION_FACTOR = env.int("KAFKA_REPLICATION_FACTOR", default=1)

EVENT_MODULES = ("accounts", "users", "products", "notifications", "orders")
# (Named as eventstore.kafka_admin.topic_name names them.)
KAFKA_TOPICS = {
    f"{KAFKA_TOPIC_PREFIX}{module}.events": {
        "partitions": KAFKA_TOPIC_PARTITIONS,
        "replication_factor": KAFKA_REPLICATION_FACTOR,
        "config": {
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "cleanup.policy": "delete",
            # Replicated 3 times: an acknowledged event is on 2 brokers (acks=all), and one
            # broker can be lost without refusing writes.
            "min.insync.replicas": str(max(1, min(2, KAFKA_REPLICATION_FACTOR - 1))),
        },
    }
    for module in EVENT_MODULES
}
