"""The no-Docker stack runner: installs, starts, checks and stops the four servers on loopback.

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

import argparse
import shutil
import sys
import time
from collections.abc import Callable

from stack_kafka import Kafka
from stack_postgres import Postgres
from stack_prometheus import Prometheus
from stack_rabbitmq import RabbitMQ, ensure_vhost
from stack_redis import Redis
from stack_util import (
    LOG_DIR,
    RUN_DIR,
    Server,
    StackError,
    apt_install,
    forget_owner,
    owner_of,
    port_open,
    record_owner,
    say,
    wait_until,
)
from stack_zipkin import Zipkin

SERVERS: dict[str, Callable[[], Server]] = {
    "postgres": Postgres,
    "redis": Redis,
    "rabbitmq": RabbitMQ,
    "kafka": Kafka,
}
# Started only when named (`stack.py up zipkin prometheus`); `down` stops them too.
OPTIONAL: dict[str, Callable[[], Server]] = {"zipkin": Zipkin, "prometheus": Prometheus}
READY_TIMEOUT = {
    "postgres": 60.0,
    "redis": 20.0,
    "rabbitmq": 90.0,
    "kafka": 120.0,
    "zipkin": 120.0,
    "prometheus": 60.0,
}


def start_hint(name: str) -> str:
    return f"make stack-up (or: python stack/stack.py up {name})"


# ---------------------------------------------------------------- commands


def cmd_up(servers: list[Server]) -> None:
    t0 = time.monotonic()
    for dirpath in (LOG_DIR, RUN_DIR):
        dirpath.mkdir(parents=True, exist_ok=True)
    started: list[Server] = []
    reused: list[Server] = []
    for s in servers:
        if s.managed_pid():
            if s.resume():
                say(f"{s.name}: started again what of it was not running")
            elif s.ready():
                say(f"{s.name} already running on {s.address}")
                continue
            started.append(s)  # ours, still booting (or just provisioned wrong): wait below
            continue
        if port_open(s.host, s.port):
            if s.ready():
                owner = owner_of(s.name, s.host, s.port)
                by = f" (started by the checkout {owner['checkout']})" if owner else ""
                say(f"{s.name}: reusing the server already listening on {s.address}{by}")
                reused.append(s)
                continue
            raise StackError(
                f"{s.name}: port {s.address} is taken by another process that does not accept "
                f"this project's credentials; stop it or set {s.name.upper()}_PORT"
            )
        s.install()
        say(f"starting {s.name} on {s.address}")
        s.start()
        started.append(s)
    for s in started:
        wait_until(f"{s.name} on {s.address}", s.booted, READY_TIMEOUT[s.name], s.log)
        if not s.ready():
            s.provision()
        wait_until(f"{s.name} on {s.address}", s.ready, READY_TIMEOUT[s.name], s.log)
        pid = s.managed_pid()
        if pid:
            record_owner(s.name, s.host, s.port, pid)
        say(f"{s.name} ready on {s.address}")
    for s in servers:
        s.after_up()
    kafka = next((s for s in servers if isinstance(s, Kafka)), None)
    if kafka is not None:
        kafka.create_topics()
    say(f"up in {time.monotonic() - t0:.1f}s")


def cmd_down(servers: list[Server], *, force: bool = False) -> None:
    for s in reversed(servers):
        if s.managed_pid():
            say(f"stopping {s.name}")
            s.stop()
            forget_owner(s.name, s.host, s.port)
            continue
        owner = owner_of(s.name, s.host, s.port)
        if owner is None:
            say(f"{s.name} not running (from this project)")
        elif force:
            say(f"stopping {s.name}, started by the checkout {owner['checkout']} (--force)")
            s.stop_foreign(int(owner["pid"]))
            forget_owner(s.name, s.host, s.port)
        else:
            say(
                f"{s.name}: not stopping it, the checkout {owner['checkout']} started it "
                f"(stop it there: cd {owner['checkout']} && make stack-down; "
                f"or here: make stack-down STACK_ARGS=--force)"
            )


def cmd_status(servers: list[Server]) -> int:
    down = 0
    for s in servers:
        up = s.ready()
        owner = owner_of(s.name, s.host, s.port)
        if s.managed_pid():
            started_by = "managed (this checkout)"
        elif owner is not None:
            started_by = f"managed by {owner['checkout']}"
        else:
            started_by = "external" if up else "-"
        print(f"{s.name:<9} {s.address:<22} {'up' if up else 'DOWN':<5} {started_by}")
        down += not up
    return 1 if down else 0


def cmd_reset(servers: list[Server]) -> None:
    cmd_down(servers)
    for s in servers:
        for d in s.data_dirs():
            if d.exists():
                say(f"removing {d}")
                shutil.rmtree(d)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["rabbitmqctl"]:
        return cmd_rabbitmqctl(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "reset", "vhost", "browser"])
    parser.add_argument("names", nargs="*", help="servers (default: all), or vhost add|delete NAME")
    parser.add_argument(
        "--force", action="store_true", help="down: stop servers another checkout started too"
    )
    args = parser.parse_intermixed_args(argv)
    try:
        if args.command == "vhost":
            return cmd_vhost(args.names)
        if args.command == "browser":
            return cmd_browser()
        every = {**SERVERS, **OPTIONAL}
        unknown = [n for n in args.names if n not in every]
        if unknown:
            raise StackError(f"unknown server {', '.join(unknown)}; choose from {', '.join(every)}")
        names = args.names or list(SERVERS)
        if not args.names and args.command == "down":
            names += [
                n
                for n, make in OPTIONAL.items()
                if make().managed_pid() or (args.force and _owned_elsewhere(make()))
            ]
        servers = [every[n]() for n in names]
        if args.command == "up":
            cmd_up(servers)
        elif args.command == "down":
            cmd_down(servers, force=args.force)
        elif args.command == "status":
            return cmd_status(servers)
        else:
            cmd_reset(servers)
    except StackError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _owned_elsewhere(server: Server) -> bool:
    return owner_of(server.name, server.host, server.port) is not None


def cmd_browser() -> int:
    """Debian's chromium for the browser tests (Playwright drives it: no browser download)."""
    if not shutil.which("chromium"):
        apt_install("chromium")
    say(f"chromium: {shutil.which('chromium')}")
    return 0


def cmd_rabbitmqctl(args: list[str]) -> int:
    """`rabbitmqctl [--node N] ARGS...` on a node of the stack's RabbitMQ (node 1 by default),
    with the cookie it needs: its output, its exit status."""
    rabbit = RabbitMQ()
    node = rabbit.nodes[0]
    if args[:1] == ["--node"] and len(args) > 1:
        try:
            node = rabbit.nodes[int(args[1]) - 1]
        except (ValueError, IndexError):
            say(f"error: --node takes 1 to {len(rabbit.nodes)}, not {args[1]}")
            return 2
        args = args[2:]
    done = rabbit.ctl(*args, check=False, node=node)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


def cmd_vhost(args: list[str]) -> int:
    """Per-test-run vhosts: `vhost add NAME` / `vhost delete NAME`."""
    if len(args) != 2 or args[0] not in ("add", "delete"):
        raise StackError("usage: stack.py vhost add|delete NAME")
    rabbit = RabbitMQ()
    if args[0] == "add":
        ensure_vhost(args[1], ctl=rabbit.ctl)
    else:
        rabbit.ctl("delete_vhost", args[1], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
