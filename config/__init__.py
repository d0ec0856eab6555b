"""Composition root: settings, the Celery app, URLs. The only package that wires concrete things."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
