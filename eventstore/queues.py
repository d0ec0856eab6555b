"""The Celery queues the project routes to, one per concern (stdlib only: the settings import it).

Workers consume every one but FOLLOW by default (the Procfile's `worker`); the follower has a
worker of its own on FOLLOW (the Procfile's `follower`); a side effect names its queue.
"""

from __future__ import annotations

import enum


class Queue(enum.StrEnum):
    DEFAULT = "default"
    OPS = "ops"
    PROJECTIONS = "projections"
    FOLLOW = "projections_follow"
    SIDE_EFFECTS = "side_effects"
    NOTIFICATIONS = "notifications"
    ORDERS = "orders"
