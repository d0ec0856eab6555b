from __future__ import annotations

from django.apps import AppConfig


class Bench(AppConfig):
    """The benchmark's events and read models, in place of the modules' read models, in the
    benchmark's processes and in the workers it starts."""

    name = "bench"

    def ready(self) -> None:
        from bench import projections
        from config.eventstore import add_events
        from eventstore.runtime import get_store
        from projections import registry

        add_events(get_store().registry, projections)
        registry.unregister_read_models()
        registry.register(read_models=[projections.Totals, projections.Leaderboard])
