"""Test settings. tests/conftest.py sets the per-run names (DB, Redis prefix, vhost, topics)."""

from config.django.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Mail goes to files, one directory per test run (worker processes write, tests read).
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = str(BASE_DIR / ".stack" / "test-mail" / REDIS_KEY_PREFIX)  # noqa: F405

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The test ledger's events and projections (tests/support/apps.py), for the worker processes too.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.apps.TestLedger"]  # noqa: F405
PROJECTIONS_RETRY_BACKOFF = 0.01
