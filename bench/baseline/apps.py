import os

from django.apps import AppConfig


class BaselineConfig(AppConfig):
    name = "bench.baseline"
    label = "bench_baseline"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The aggregate cache experiment (bench/aggregate_cache.py), in the web processes of
        # the HTTP bench when asked for.
        if size := int(os.environ.get("BENCH_AGGREGATE_CACHE", "0") or 0):
            from bench.aggregate_cache import install

            install(size)
