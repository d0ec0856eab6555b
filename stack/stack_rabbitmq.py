"""RabbitMQ for the stack, and the per-run vhosts."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from stack_util import (
    LOG_DIR,
    RABBIT,
    RABBIT_DIST_PORT,
    RUN_DIR,
    STACK_DIR,
    Server,
    apt_install,
    kill_pid,
    port_open,
    read_pid,
    run,
    spawn,
)


class RabbitMQ(Server):
    def __init__(self) -> None:
        super().__init__("rabbitmq", RABBIT.host, RABBIT.port)
        self.base = STACK_DIR / "rabbitmq"

    def install(self) -> None:
        if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
            apt_install("rabbitmq-server")

    def server_env(self) -> dict[str, str]:
        # A clean RABBITMQ_* environment: rabbitmq-env reads many of these names itself.
        return {
            "HOME": str(self.base),  # holds the Erlang cookie shared by server and rabbitmqctl
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

    def managed_pid(self) -> int | None:
        return read_pid(self.name)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
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
        return run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", *args],
            env_extra=self.server_env(),
            check=check,
        )

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
