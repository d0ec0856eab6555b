"""Settings for the HTTP benchmark: the project's (every module's read models) plus the
baseline app and its URLs."""

from config.django.base import *  # noqa: F403

DEBUG = False
INSTALLED_APPS = [*INSTALLED_APPS, "bench.baseline"]  # noqa: F405
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# The load generator must not be refused logins or throttled mid-run.
LOGIN_MAX_ATTEMPTS_PER_IP = 10**9
