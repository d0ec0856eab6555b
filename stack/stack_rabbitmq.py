"""RabbitMQ for the stack, and the per-run vhosts."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from stack_util import (
    CACHE_DIR,
    LOG_DIR,
    RABBIT,
    RABBIT_DIST_PORT,
    ROOT,
    RUN_DIR,
    STACK_DIR,
    Server,
    StackError,
    apt_install,
    kill_pid,
    owner_of,
    port_open,
    run,
    spawn,
)

# Erlang's words for "this rabbitmqctl may not talk to that node" (the cookie differs or is
# missing): reachable, but not administrable from here.
_NOT_ADMINISTRABLE = ("cookie", "authentication failed", "rejected by the remote node")


class RabbitMQ(Server):
    """The node's Erlang cookie (what `rabbitmqctl` needs to administer it) lives in a
    per-machine folder beside the Kafka jars, one per node address (`home`), not in the checkout
    that started it: any checkout of the project on this machine can then administer the node.
    Crash dumps of the Erlang tools go to `.stack/logs/`."""

    def __init__(self) -> None:
        super().__init__("rabbitmq", RABBIT.host, RABBIT.port)
        self.base = STACK_DIR / "rabbitmq"
        self.home = CACHE_DIR / "rabbitmq" / f"{RABBIT.host}-{RABBIT.port}"

    @property
    def cookie(self) -> Path:
        return self.home / ".erlang.cookie"

    def _prepare_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        old = self.base / ".erlang.cookie"  # where a checkout kept it before
        if not self.cookie.exists() and old.exists() and self.managed_pid():
            shutil.copy2(old, self.cookie)

    def install(self) -> None:
        if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
            apt_install("rabbitmq-server")

    def server_env(self) -> dict[str, str]:
        # A clean RABBITMQ_* environment: rabbitmq-env reads many of these names itself.
        return {
            "HOME": str(self.home),  # holds the Erlang cookie shared by server and rabbitmqctl
            "ERL_CRASH_DUMP": str(LOG_DIR / "rabbitmq-erl_crash.dump"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": "cqrs@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(RABBIT_DIST_PORT),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(LOG_DIR / "rabbitmq"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(RUN_DIR / "rabbitmq-erlang.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_USER": "",
            "RABBITMQ_PASSWORD": "",
            "RABBITMQ_VHOST": "",
            "RABBITMQ_HOST": "",
            "RABBITMQ_PORT": "",
        }

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self._prepare_home()
        (LOG_DIR / "rabbitmq").mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text(
            "loopback_users = none\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
            "vm_memory_high_watermark.relative = 0.2\n"
            "disk_free_limit.absolute = 200MB\n"
        )
        spawn(
            self.name,
            ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
            env_extra=self.server_env(),
            cwd=self.base,
        )

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self._prepare_home()
        done = run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", *args],
            env_extra=self.server_env(),
            check=False,
            cwd=LOG_DIR,  # whatever else the Erlang VM writes lands under .stack/ too
        )
        if check and done.returncode != 0:
            raise StackError(self.explain(args, done))
        return done

    def explain(self, args: tuple[str, ...], done: subprocess.CompletedProcess[str]) -> str:
        """One line: what failed, why, and the command that fixes it."""
        said = " ".join((done.stderr + " " + done.stdout).split())
        if any(word in said.lower() for word in _NOT_ADMINISTRABLE) and port_open(
            self.host, self.port
        ):
            owner = owner_of(self.name, self.host, self.port)
            started_by = f"the checkout {owner['checkout']}" if owner else "another program"
            if owner is None:
                fix = "stop that RabbitMQ or set RABBITMQ_PORT, then make stack-up"
            elif owner["checkout"] == str(ROOT):
                fix = "make stack-down && make stack-up (a new node, with a new cookie)"
            else:
                fix = (
                    f"stop it there (cd {owner['checkout']} && make stack-down), "
                    "then make stack-up here"
                )
            return (
                f"rabbitmq on {self.address} is reachable but cannot be administered from here: "
                f"rabbitmqctl was refused by the node (its Erlang cookie is not the one in "
                f"{self.cookie}; it was started by {started_by}); fix: {fix}"
            )
        if not port_open(self.host, self.port):
            return f"rabbitmq is not running on {self.address}; start it with: make stack-up"
        return f"`rabbitmqctl {' '.join(args)}` failed: {said[-300:]}"

    def ready(self) -> bool:
        return amqp_login_ok()

    def booted(self) -> bool:
        # A cheap TCP check first: rabbitmqctl boots an Erlang VM (about a second) per call.
        return (
            port_open(self.host, self.port)
            and self.ctl("await_startup", "--timeout", "5", check=False).returncode == 0
        )

    def provision(self) -> None:
        user, password, vhost = RABBIT.user, RABBIT.password, RABBIT.vhost
        if user not in self.ctl("list_users").stdout.split():
            self.ctl("add_user", user, password)
        else:
            self.ctl("change_password", user, password)
        self.ctl("set_user_tags", user, "administrator")
        ensure_vhost(vhost, ctl=self.ctl)

    def stop(self) -> None:
        pid = self.managed_pid()
        if pid:
            kill_pid(self.name, pid, timeout=60)
        # epmd (Erlang's port mapper) outlives the node; stop it too, we started it.
        if shutil.which("epmd") or Path("/usr/bin/epmd").exists():
            subprocess.run(
                ["epmd", "-kill"],
                capture_output=True,
                env={**os.environ, "ERL_EPMD_ADDRESS": "127.0.0.1"},
            )

    def stop_foreign(self, pid: int) -> None:
        kill_pid(self.name, pid, timeout=60)
        subprocess.run(
            ["epmd", "-kill"],
            capture_output=True,
            env={**os.environ, "ERL_EPMD_ADDRESS": "127.0.0.1"},
            check=False,
        )


def ensure_vhost(vhost: str, *, ctl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    ctl("add_vhost", vhost, check=False)
    ctl("set_permissions", "-p", vhost, RABBIT.user, ".*", ".*", ".*")


def amqp_login_ok(vhost: str | None = None) -> bool:
    import amqp

    conn = amqp.Connection(
        host=f"{RABBIT.host}:{RABBIT.port}",
        userid=RABBIT.user,
        password=RABBIT.password,
        virtual_host=vhost or RABBIT.vhost,
        connect_timeout=2,
    )
    try:
        conn.connect()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.close()
