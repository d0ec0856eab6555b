"""The event store and its relay."""

from config.env import env

# Builds the EventStore the modules use (config wires registry, topics, inline projections).
EVENTSTORE_FACTORY = "config.eventstore.build_store"
# Store a snapshot every N events of a stream; per stream type: "products.Product=50,...".
EVENTSTORE_SNAPSHOT_EVERY = env.int("EVENTSTORE_SNAPSHOT_EVERY", default=25)
EVENTSTORE_SNAPSHOT_EVERY_BY_TYPE = {
    k: int(v) for k, v in env.dict("EVENTSTORE_SNAPSHOT_EVERY_BY_TYPE", default={}).items()
}
EVENTSTORE_RELAY_BATCH_SIZE = env.int("EVENTSTORE_RELAY_BATCH_SIZE", default=5000)
# Seconds the relay waits for a NOTIFY before looking anyway (a safety net, not the mechanism).
EVENTSTORE_RELAY_IDLE_WAIT = env.float("EVENTSTORE_RELAY_IDLE_WAIT", default=5.0)
# Called by the relay with each batch it published (wakes the projections).
EVENTSTORE_RELAY_ON_PUBLISHED = "projections.tasks.on_published"
# Event modules beyond apps.<module>.events (tests add their own).
EVENTSTORE_EXTRA_EVENT_MODULES: list[str] = []
# Where per-person keys for personal data in events live (crypto-shredding).
EVENTSTORE_KEY_VAULT = "eventstore.personal.PostgresKeyVault"
# Read models kept inside the append transaction (the Django user table).
EVENTSTORE_INLINE_PROJECTIONS = ["apps.accounts.read_models.project_accounts"]
