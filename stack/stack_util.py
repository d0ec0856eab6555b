"""The no-Docker stack runner's shared parts (stack/stack.py is the command; one file per
server). The runner: installs, starts, checks and stops the four servers on loopback.

    python stack/stack.py up|down|status|reset [postgres|redis|rabbitmq|kafka ...]

What it does, idempotently:
- installs missing OS packages (redis-server, rabbitmq-server, PostgreSQL, a JRE) with apt-get;
- assembles Apache Kafka (KRaft, single node) from Maven Central jars into a per-machine cache;
- keeps every data file, log and pid file under one ignored project-local folder (.stack/);
- waits for real readiness: a SQL query, a Redis PING, an AMQP login, a Kafka metadata call;
- creates the Postgres role and database, the RabbitMQ vhost and user, and the project's topics.

It reads the same environment variables as the Django settings (POSTGRES_*, REDIS_*, RABBITMQ_*,
KAFKA_*), so pointing the app elsewhere points the stack runner there too. It runs inside the
project's virtualenv (for psycopg, redis, kombu and confluent-kafka) but never imports Django.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = Path(os.environ.get("STACK_DIR", ROOT / ".stack")).resolve()
CACHE_DIR = Path(
    os.environ.get("STACK_CACHE_DIR", Path.home() / ".cache" / "cqrs-platform-stack")
).resolve()
LOG_DIR = STACK_DIR / "logs"
RUN_DIR = STACK_DIR / "run"

KAFKA_VERSION = os.environ.get("STACK_KAFKA_VERSION", "4.3.1")
LOG4J_VERSION = "2.25.2"
# Pinned: Maven 3.8's default dependency plugin (2.8) resolves a far larger, older tree, which
# took about 3.5 minutes from an empty local repository against about 1 minute for this one.
MAVEN_COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"


def env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class Conf:
    host: str
    port: int
    user: str = ""
    password: str = ""
    db: str = ""
    vhost: str = ""


PG = Conf(
    host=env("POSTGRES_HOST", "127.0.0.1"),
    port=int(env("POSTGRES_PORT", "5432")),
    db=env("POSTGRES_DB", "cqrs"),
    user=env("POSTGRES_USER", "cqrs"),
    password=env("POSTGRES_PASSWORD", "cqrs"),
)
REDIS = Conf(host=env("REDIS_HOST", "127.0.0.1"), port=int(env("REDIS_PORT", "6379")))
RABBIT = Conf(
    host=env("RABBITMQ_HOST", "127.0.0.1"),
    port=int(env("RABBITMQ_PORT", "5672")),
    user=env("RABBITMQ_USER", "cqrs"),
    password=env("RABBITMQ_PASSWORD", "cqrs"),
    vhost=env("RABBITMQ_VHOST", "cqrs"),
)
KAFKA_BOOTSTRAP = env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
KAFKA_HOST, _, _kport = KAFKA_BOOTSTRAP.split(",")[0].rpartition(":")
KAFKA_PORT = int(_kport)
KAFKA_CONTROLLER_PORT = int(env("STACK_KAFKA_CONTROLLER_PORT", str(KAFKA_PORT + 1)))
RABBIT_DIST_PORT = int(env("STACK_RABBITMQ_DIST_PORT", str(RABBIT.port + 20000)))


class StackError(Exception):
    """A problem the user can act on; printed as one line, no traceback."""


def say(msg: str) -> None:
    print(f"stack: {msg}", flush=True)


# ---------------------------------------------------------------- helpers


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def read_pid(name: str) -> int | None:
    path = RUN_DIR / f"{name}.pid"
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def wait_until(what: str, check: Callable[[], bool], timeout: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise StackError(f"{what} not ready after {timeout:.0f}s (log: {log}){tail}")


def run(
    cmd: list[str],
    *,
    env_extra: dict[str, str] | None = None,
    check: bool = True,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    if user and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--", *cmd]
    full_env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, cwd=cwd)
    if check and proc.returncode != 0:
        out = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise StackError(f"`{' '.join(cmd)}` failed: {' | '.join(out)}")
    return proc


_apt_updated = False


def apt_install(*packages: str) -> None:
    global _apt_updated
    if not shutil.which("apt-get"):
        raise StackError(f"{', '.join(packages)} missing and apt-get not available: install them")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    say(f"installing {' '.join(packages)} from the OS packages ...")
    env_extra = {"DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        run([*sudo, "apt-get", "update", "-qq"], env_extra=env_extra)
        _apt_updated = True
    # policy-rc.d stops the packages' own service scripts from starting system-wide servers:
    # the stack runs its own, project-local instances.
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = False
    if os.geteuid() == 0 and not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        created_policy = True
    try:
        run(
            [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            env_extra=env_extra,
        )
    finally:
        if created_policy:
            policy.unlink(missing_ok=True)


def spawn(name: str, cmd: list[str], *, env_extra: dict[str, str], cwd: Path) -> int:
    log = LOG_DIR / f"{name}.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **env_extra},
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (RUN_DIR / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def kill_pid(name: str, pid: int, timeout: float = 30, sig: int = signal.SIGTERM) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        say(f"{name} did not stop in {timeout:.0f}s; killing pid {pid}")
        os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- who started what

# One record per server address on this machine, whichever checkout started it: which checkout,
# its .stack/ folder, the server's pid. Any checkout can then say who owns a server, and refuse to
# stop one it did not start.
OWNERS_DIR = CACHE_DIR / "owners"


def _owner_file(name: str, host: str, port: int) -> Path:
    return OWNERS_DIR / f"{name}-{host}-{port}.json"


def record_owner(name: str, host: str, port: int, pid: int) -> None:
    OWNERS_DIR.mkdir(parents=True, exist_ok=True)
    record = {"checkout": str(ROOT), "stack_dir": str(STACK_DIR), "pid": pid}
    _owner_file(name, host, port).write_text(json.dumps(record) + "\n")


def owner_of(name: str, host: str, port: int) -> dict[str, Any] | None:
    """The record of the checkout that started the server at host:port, if it still runs."""
    try:
        record: dict[str, Any] = json.loads(_owner_file(name, host, port).read_text())
    except (OSError, ValueError):
        return None
    return record if pid_alive(int(record.get("pid", 0))) else None


def forget_owner(name: str, host: str, port: int) -> None:
    _owner_file(name, host, port).unlink(missing_ok=True)


def http_ok(url: str) -> bool:
    """Whether a GET of `url` (on loopback) answers 200."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - loopback
            return bool(answer.status == 200)
    except OSError:
        return False


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def install(self) -> None:
        raise NotImplementedError

    def managed_pid(self) -> int | None:
        """The pid of the server this stack started (its pid file), if it runs."""
        return read_pid(self.name)

    def start(self) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def resume(self) -> bool:
        """`up` found the server started: start what of it is not running (a cluster's killed
        node); True if it did. By default nothing."""
        return False

    def booted(self) -> bool:
        """Up enough to provision (users, vhosts); by default the same as ready."""
        return self.ready()

    def provision(self) -> None:
        """Users, vhosts and the like once it is up; by default nothing."""

    def after_up(self) -> None:
        """What every `up` checks once the server is ready, started now or before; by default
        nothing."""

    def stop(self) -> None:
        pid = self.managed_pid()
        if pid:
            kill_pid(self.name, pid)

    # How a server another checkout started is stopped from here (`down --force`): its pid gets
    # this signal (Postgres: SIGINT, its fast shutdown), then SIGKILL after the timeout.
    stop_signal: ClassVar[int] = signal.SIGTERM

    def stop_foreign(self, pid: int) -> None:
        kill_pid(self.name, pid, timeout=60, sig=self.stop_signal)

    @property
    def log(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def data_dirs(self) -> list[Path]:
        return [STACK_DIR / self.name]
