"""The Celery application. Settings come from Django settings under the CELERY_ namespace."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.development")

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
