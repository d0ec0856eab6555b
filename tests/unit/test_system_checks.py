"""Django's system checks pass, and the long-running processes that never serve a request (the
relay, the followers, Celery's workers and beat) start without running them: the checks load
the URLconf, every view, DRF and the schema, about 12 MB in each such process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]

STARTS = {
    # the relay's handle() stops at once on a bad option, after the checks would have run
    "relay": """
from django.core.management import ManagementUtility
try:
    ManagementUtility(["manage.py", "relay", "--batch-size", "0"]).execute()
except SystemExit:
    pass
""",
    # what a Celery worker does before it imports the task modules
    "worker": """
from config.celery import app
app.loader.import_default_modules()
""",
}


def test_system_checks_pass() -> None:
    call_command("check", fail_level="ERROR")


def test_daemons_start_without_loading_the_urlconf() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CELERY_SKIP_CHECKS"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.django.development")
    for name, start in STARTS.items():
        script = (
            "import sys, django\ndjango.setup()\n"
            + start
            + "\nprint('config.urls' in sys.modules, 'rest_framework.views' in sys.modules)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.stdout.strip().splitlines()[-1:] == ["False False"], (name, done.stderr)
