"""What this process is, decided once at start, before anything else is imported.

`service_name()` names the process (`web`, `worker`, `follower`, `relay`, `beat`), for traces
and metrics. `prepare_metrics()` gives each service its own directory for prometheus-client's
multiprocess mode, so gunicorn's and Celery's forked children count into files their parent
(and `/metrics`) can add up. It must run before `prometheus_client` is first imported: the
library picks its value store at import time."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from config.env import env

MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"
OWNER = "METRICS_DIR_SERVICE"


def service_name(argv: list[str] | None = None) -> str:
    argv = sys.argv if argv is None else argv
    words = " ".join(argv)
    if os.environ.get("OTEL_SERVICE_NAME"):
        return os.environ["OTEL_SERVICE_NAME"]
    if "gunicorn" in words or "runserver" in words:
        return "web"
    if "relay" in argv:
        return "relay"
    if "follow_projections" in argv:
        return "follower"
    if "beat" in argv:
        return "beat"
    if "worker" in argv:
        return "worker"
    if "pytest" in words:
        return "tests"
    return "cqrs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_metrics() -> Path | None:
    """Point prometheus-client at this service's directory, `METRICS_DIR/<service>-<pid>`.

    A child forked by the service (a gunicorn worker, a Celery pool process) keeps its parent's
    directory; any other process started from here (a test starting a worker) gets its own.
    A directory given as PROMETHEUS_MULTIPROC_DIR by hand is used as it is. The service's main
    process removes its directory when it exits, and any left by services no longer running."""
    service = service_name()
    given = os.environ.get(MULTIPROC)
    if given and os.environ.get(OWNER, service) == service:
        return Path(given)
    base = Path(env.str("METRICS_DIR", default=str(Path(tempfile.gettempdir()) / "cqrs-metrics")))
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob("*-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    mine = base / f"{service}-{os.getpid()}"
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    os.environ[MULTIPROC] = str(mine)
    os.environ[OWNER] = service
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a forked child, which inherits this hook
            shutil.rmtree(mine, ignore_errors=True)

    atexit.register(remove)
    return mine
