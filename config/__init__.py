"""Composition root: settings, the Celery app, URLs. The only package that wires concrete things."""

from config.process import prepare_metrics

prepare_metrics()  # before anything imports prometheus_client

from config.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
