"""Composition root: settings, the Celery app, URLs. The only package that wires concrete things.

The Celery app (config/celery.py) is imported when Django is ready (config.apps.Wiring), not
here: gunicorn's master imports this package for its settings and never sends a task."""

from config.process import prepare_metrics

prepare_metrics()  # before anything imports prometheus_client
