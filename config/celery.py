"""The Celery application. Settings come from Django settings under the CELERY_ namespace."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.signals import beat_init, task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.development")
# Celery's Django fixup runs every system check when a worker or beat starts: that loads the
# URLconf (every view, DRF, the schema), about 12 MB in each pool process that never serves a
# request. migrate and `manage.py check` run them (tests/unit/test_system_checks.py).
os.environ.setdefault("CELERY_SKIP_CHECKS", "true")

app = Celery("cqrs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["config"], related_name="tasks")


@task_postrun.connect
def _drop_unusable_connections(**_: Any) -> None:
    """What Django does after each request: close connections that failed or outlived
    CONN_MAX_AGE (Celery's own closing is relaxed by CELERY_DB_REUSE_MAX)."""
    from django.db import close_old_connections

    close_old_connections()


# ---------------------------------------------------------------- metrics

_OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str = "", **_: Any) -> None:
    _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(task_id: str = "", task: Any = None, state: str = "", **_: Any) -> None:
    from eventstore.metrics import TASK_SECONDS

    started = _started.pop(task_id, None)
    if started is not None and task is not None:
        outcome = _OUTCOMES.get(state, (state or "unknown").lower())
        TASK_SECONDS.labels(task.name, outcome).observe(time.perf_counter() - started)


@worker_ready.connect
@beat_init.connect
def _serve_metrics(**_: Any) -> None:
    """The worker's main process (its pool's files added up) or beat, on METRICS_PORT."""
    from config.metrics import serve

    serve()
