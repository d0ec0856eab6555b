"""The projection engine."""

from config.env import env

# The read models, reactions and side effects the engine runs are registered in config/wiring.py.
PROJECTIONS_BATCH_SIZE = env.int("PROJECTIONS_BATCH_SIZE", default=1000)
# Events per transaction in a rebuild (replay_projections, a shadow rebuild), unless
# --batch-size says otherwise: 5,000 rebuilt 100k events 25-30% faster than 1,000 here.
PROJECTIONS_REBUILD_BATCH_SIZE = env.int("PROJECTIONS_REBUILD_BATCH_SIZE", default=5000)
# Seconds a catch-up task works before it re-enqueues itself behind other projections' tasks.
PROJECTIONS_TASK_SLICE = env.float("PROJECTIONS_TASK_SLICE", default=2.0)
# The followers (projections.follower, `manage.py follow_projections`, the Procfile's
# `follower`): seconds between a follower's looks at what it owns (wanted by a rebuild or a
# redrive, lagging, newly free), and how long its "queued" flags outlast a follower that died.
PROJECTIONS_FOLLOW_REFRESH = env.float("PROJECTIONS_FOLLOW_REFRESH", default=0.5)
PROJECTIONS_FOLLOW_FLAG_TTL = env.int("PROJECTIONS_FOLLOW_FLAG_TTL", default=3)
# The followers share the partitions through a Kafka consumer group: a follower that stops
# answering is out of it (its partitions go to the others) after this many milliseconds (the
# brokers' group.min.session.timeout.ms, 6000 by default, is the least they accept). With an
# instance id (Kafka's static membership: one per follower, stable across its restarts), a
# follower restarted within the session timeout gets its partitions back without a rebalance;
# but one that stops for good keeps them unassigned until the timeout, so it is off by default.
PROJECTIONS_FOLLOW_SESSION_TIMEOUT_MS = env.int(
    "PROJECTIONS_FOLLOW_SESSION_TIMEOUT_MS", default=6000
)
PROJECTIONS_FOLLOW_INSTANCE_ID = env.str("PROJECTIONS_FOLLOW_INSTANCE_ID", default="")
# Attempts at one failing event before it is parked as a dead letter.
PROJECTIONS_MAX_ATTEMPTS = env.int("PROJECTIONS_MAX_ATTEMPTS", default=3)
PROJECTIONS_RETRY_BACKOFF = env.float("PROJECTIONS_RETRY_BACKOFF", default=0.2)
# Seconds between periodic catch-ups of every partition with lag (the safety net under the
# relay's wake-ups).
PROJECTIONS_CATCH_UP_INTERVAL = env.float("PROJECTIONS_CATCH_UP_INTERVAL", default=30.0)
# Reads that carry a consistency token wait this long (seconds) for the read models to apply it,
# then answer stale; a request may ask for less, never more than CONSISTENCY_WAIT_MAX.
CONSISTENCY_WAIT_TIMEOUT = env.float("CONSISTENCY_WAIT_TIMEOUT", default=2.0)
CONSISTENCY_WAIT_MAX = env.float("CONSISTENCY_WAIT_MAX", default=10.0)
# Products with less stock than this are "low stock" (a Redis set; staff are notified).
PRODUCTS_LOW_STOCK_THRESHOLD = env.int("PRODUCTS_LOW_STOCK_THRESHOLD", default=5)
# The operator's console (admin, projections/console.py): seconds between samples of every
# consumer's lag and position (the beat's ops.sample_console, or a console page), how many
# seconds of them it keeps for its rates and charts, and where an event's trace opens
# (`{trace_id}` is replaced; empty: no link).
CONSOLE_SAMPLE_SECONDS = env.float("CONSOLE_SAMPLE_SECONDS", default=5.0)
CONSOLE_HISTORY_SECONDS = env.float("CONSOLE_HISTORY_SECONDS", default=600.0)
CONSOLE_TRACE_URL = env.str(
    "CONSOLE_TRACE_URL", default="http://127.0.0.1:9411/zipkin/traces/{trace_id}"
)
