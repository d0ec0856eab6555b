"""The projection engine."""

from config.env import env

# Dotted paths of every projection class (modules add theirs).
PROJECTIONS: list[str] = [
    "apps.users.read_models.Profiles",
    "apps.users.read_models.Directory",
    "apps.users.read_models.ProfileCards",
    "apps.products.read_models.Catalog",
    "apps.products.read_models.PriceHistory",
    "apps.products.read_models.Details",
    "apps.products.read_models.Leaderboards",
    "apps.notifications.read_models.Inbox",
    "apps.notifications.read_models.UnreadCounters",
]
# Dotted paths of every reaction (eventstore.reaction): code that decides on other modules'
# events (issues commands, creates notifications), in the store's log order, on the facts as of
# each event; never run by a replay.
REACTIONS: list[str] = [
    "apps.users.reactions.ProfileLifecycle",
    "apps.notifications.reactions.Notifier",
]
# Dotted paths of every side effect (emails, calls out): a job per event, run by Celery with
# retries, never during a replay.
SIDE_EFFECTS: list[str] = [
    "apps.notifications.delivery.Delivery",
]
PROJECTIONS_BATCH_SIZE = env.int("PROJECTIONS_BATCH_SIZE", default=1000)
# Seconds a catch-up task works before it re-enqueues itself behind other projections' tasks.
PROJECTIONS_TASK_SLICE = env.float("PROJECTIONS_TASK_SLICE", default=2.0)
# The follower (projections.follower, the Procfile's `follower` worker): seconds per slice (the
# next slice takes its partitions over; keep it well under CELERY_TASK_TIME_LIMIT), seconds
# between its looks at what it owns (wanted by a rebuild or a redrive, lagging, newly free), and
# how long its "queued" flags and liveness outlast a follower that died.
PROJECTIONS_FOLLOW_SLICE = env.float("PROJECTIONS_FOLLOW_SLICE", default=60.0)
PROJECTIONS_FOLLOW_REFRESH = env.float("PROJECTIONS_FOLLOW_REFRESH", default=0.5)
PROJECTIONS_FOLLOW_FLAG_TTL = env.int("PROJECTIONS_FOLLOW_FLAG_TTL", default=3)
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
CONSISTENCY_WAITER = "projections.consistency.wait"
# Products with less stock than this are "low stock" (a Redis set; staff are notified).
PRODUCTS_LOW_STOCK_THRESHOLD = env.int("PRODUCTS_LOW_STOCK_THRESHOLD", default=5)
