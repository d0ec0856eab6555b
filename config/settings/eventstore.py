"""The event store and its relay."""

from config.env import env

# Store a snapshot every N events of a stream; per stream type: "products.Product=50,...".
EVENTSTORE_SNAPSHOT_EVERY = env.int("EVENTSTORE_SNAPSHOT_EVERY", default=25)
EVENTSTORE_SNAPSHOT_EVERY_BY_TYPE = {
    k: int(v) for k, v in env.dict("EVENTSTORE_SNAPSHOT_EVERY_BY_TYPE", default={}).items()
}
EVENTSTORE_RELAY_BATCH_SIZE = env.int("EVENTSTORE_RELAY_BATCH_SIZE", default=5000)
# Seconds the relay waits for a NOTIFY before looking anyway (a safety net, not the mechanism).
EVENTSTORE_RELAY_IDLE_WAIT = env.float("EVENTSTORE_RELAY_IDLE_WAIT", default=5.0)
