"""The Celery queues the project routes to, one per concern (stdlib only: the settings import it).

Workers consume every one (the Procfile's `worker`); a side effect names its queue. (The
followers take no tasks: they are processes of their own, `manage.py follow_projections`.)
"""

from __future__ import annotations

import enum
import math


class Queue(enum.StrEnum):
    DEFAULT = "default"
    OPS = "ops"
    PROJECTIONS = "projections"
    SIDE_EFFECTS = "side_effects"
    NOTIFICATIONS = "notifications"
    ORDERS = "orders"


def broker_countdown(seconds: float | None) -> float | None:
    """A task's countdown as the broker can hold it: with quorum queues a countdown waits in
    RabbitMQ (Celery's native delayed delivery), which counts whole seconds and refuses a
    fraction of one (Celery raises ValueError for 0 < countdown < 1). A wait is a "not before":
    a fraction rounds up to one second."""
    if seconds is None or seconds <= 0:
        return None
    return float(math.ceil(seconds)) if seconds < 1 else seconds
