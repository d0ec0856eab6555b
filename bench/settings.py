"""Settings for benchmark runs: the project's, plus the benchmark's events and read models
(so the worker processes the benchmark starts run them too)."""

from config.django.base import *  # noqa: F403

DEBUG = False
INSTALLED_APPS = [*INSTALLED_APPS, "bench.apps.Bench"]  # noqa: F405
