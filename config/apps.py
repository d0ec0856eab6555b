from __future__ import annotations

from django.apps import AppConfig


class Wiring(AppConfig):
    """The composition root as a Django app: listed after every module in INSTALLED_APPS, so
    `ready()` runs when all of them are loaded."""

    name = "config"
    label = "wiring"

    def ready(self) -> None:
        import config.celery  # noqa: F401 - the app a shared_task sends through, in every process
        from config.tracing import set_up
        from config.wiring import wire

        set_up()
        wire()
