"""Celery on RabbitMQ. Queues are routed per concern; tasks are idempotent, so acks are late.

The queues are quorum queues (durable, replicated across a RabbitMQ cluster's nodes: RabbitMQ's
type for data that must survive a node), declared by the project on one topic exchange, so that
Celery's native delayed delivery keeps a countdown's message in the broker rather than in a
worker's memory. CELERY_QUEUE_TYPE=classic goes back to classic queues (a vhost holding queues
of the other type must be emptied first: `manage.py` and workers refuse to redeclare them).
"""

from kombu import Exchange
from kombu import Queue as AMQPQueue

from config.env import env
from eventstore.queues import Queue

RABBITMQ_HOST = env.str("RABBITMQ_HOST", default="127.0.0.1")
RABBITMQ_PORT = env.int("RABBITMQ_PORT", default=5672)
RABBITMQ_USER = env.str("RABBITMQ_USER", default="cqrs")
RABBITMQ_PASSWORD = env.str("RABBITMQ_PASSWORD", default="cqrs")
RABBITMQ_VHOST = env.str("RABBITMQ_VHOST", default="cqrs")
# A cluster: every node's host:port, comma-separated; a client fails over to the next node when
# the one it uses goes away (RABBITMQ_HOST and RABBITMQ_PORT then name the first).
RABBITMQ_NODES = env.list("RABBITMQ_NODES", default=[f"{RABBITMQ_HOST}:{RABBITMQ_PORT}"])

CELERY_BROKER_URL = ";".join(
    f"amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@{node}/{RABBITMQ_VHOST}" for node in RABBITMQ_NODES
)
# A task is sent once the broker has it (on a cluster: a majority of the queue's replicas).
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_QUEUE_TYPE = env.str("CELERY_QUEUE_TYPE", default="quorum")
if CELERY_QUEUE_TYPE not in ("quorum", "classic"):
    raise ValueError(f"CELERY_QUEUE_TYPE must be quorum or classic, not {CELERY_QUEUE_TYPE!r}")
TASKS_EXCHANGE = Exchange("tasks", type="topic", durable=True)
CELERY_TASK_QUEUES = tuple(
    AMQPQueue(
        q.value,
        TASKS_EXCHANGE,
        routing_key=q.value,
        durable=True,
        queue_arguments={"x-queue-type": CELERY_QUEUE_TYPE},
    )
    for q in Queue
)
CELERY_TASK_DEFAULT_EXCHANGE = TASKS_EXCHANGE.name
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = TASKS_EXCHANGE.type
CELERY_TASK_DEFAULT_ROUTING_KEY = Queue.DEFAULT.value
CELERY_TASK_DEFAULT_QUEUE_TYPE = CELERY_QUEUE_TYPE
CELERY_TASK_CREATE_MISSING_QUEUE_TYPE = CELERY_QUEUE_TYPE
CELERY_BROKER_NATIVE_DELAYED_DELIVERY_QUEUE_TYPE = CELERY_QUEUE_TYPE
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="rpc://")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
# Every queue a worker consumes by default (eventstore/queues.py).
TASK_QUEUE_NAMES = tuple(q.value for q in Queue)
CELERY_TASK_ROUTES = {
    "ops.*": {"queue": Queue.OPS.value},
    "projections.*": {"queue": Queue.PROJECTIONS.value},
    "side_effects.*": {"queue": Queue.SIDE_EFFECTS.value},
}
CELERY_BEAT_SCHEDULE = {
    "projections-catch-up-all": {
        "task": "projections.catch_up_all",
        "schedule": env.float("PROJECTIONS_CATCH_UP_INTERVAL", default=30.0),
    },
    "side-effects-sweep": {"task": "side_effects.sweep", "schedule": 60.0},
    # The console's lag history (projections/console.py); a sample nobody ran in time is dropped.
    "console-sample": {
        "task": "ops.sample_console",
        "schedule": env.float("CONSOLE_SAMPLE_SECONDS", default=5.0),
        "options": {"expires": 2 * env.float("CONSOLE_SAMPLE_SECONDS", default=5.0)},
    },
    "orders-fire-timers": {
        "task": "orders.fire_timers",
        "schedule": env.float("ORDERS_TIMER_SWEEP", default=5.0),
    },
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False
# Celery's Django fixup closes the database connection around every task unless this is set:
# a new connection (about 40 ms) for every projection catch-up. Keep connections for this many
# tasks; config/celery.py still drops broken and expired ones (CONN_MAX_AGE) after each task.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
