"""RabbitMQ for the stack, and the per-run vhosts: one node by default, or a cluster of
STACK_RABBITMQ_NODES nodes on loopback (node i is `cqrs<i>@localhost` on RABBITMQ_PORT + 2(i-1),
its inter-node port the next one; nodes 2.. join node 1). The project's quorum queues are
then replicated on every node (config/settings/celery.py), and a client given every node
(RABBITMQ_NODES) fails over when one goes. `up rabbitmq` also starts a node that is not running
(after a kill, say) and joins it again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
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
    read_pid,
    run,
    say,
    spawn,
)

NODES = int(os.environ.get("STACK_RABBITMQ_NODES") or "1")


@dataclass(frozen=True)
class Node:
    name: str  # the Erlang node name
    port: int
    dist_port: int
    base: Path
    pid_name: str


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
        if NODES < 1:
            raise StackError(f"STACK_RABBITMQ_NODES must be at least 1, not {NODES}")
        self.home = CACHE_DIR / "rabbitmq" / f"{RABBIT.host}-{RABBIT.port}"
        if NODES == 1:
            self.base = STACK_DIR / "rabbitmq"
            self.nodes = [
                Node("cqrs@localhost", RABBIT.port, RABBIT_DIST_PORT, self.base, "rabbitmq")
            ]
        else:
            self.base = STACK_DIR / "rabbitmq-cluster"
            self.nodes = [
                Node(
                    f"cqrs{i}@localhost",
                    RABBIT.port + 2 * (i - 1),
                    RABBIT.port + 2 * (i - 1) + 1,
                    self.base / f"node-{i}",
                    f"rabbitmq-{i}",
                )
                for i in range(1, NODES + 1)
            ]

    def data_dirs(self) -> list[Path]:
        return [self.base]

    def managed_pid(self) -> int | None:
        """A running node's pid (any: `up` starts the others again)."""
        return next((pid for n in self.nodes if (pid := read_pid(n.pid_name))), None)

    def node_pids(self) -> dict[str, int | None]:
        return {n.name: read_pid(n.pid_name) for n in self.nodes}

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

    def server_env(self, node: Node | None = None) -> dict[str, str]:
        # A clean RABBITMQ_* environment: rabbitmq-env reads many of these names itself.
        node = node or self.nodes[0]
        return {
            "HOME": str(self.home),  # holds the Erlang cookie shared by server and rabbitmqctl
            "ERL_CRASH_DUMP": str(LOG_DIR / "rabbitmq-erl_crash.dump"),
            "RABBITMQ_CONF_ENV_FILE": str(node.base / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(node.port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(LOG_DIR / node.pid_name),
            "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(RUN_DIR / f"{node.pid_name}-erlang.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_USER": "",
            "RABBITMQ_PASSWORD": "",
            "RABBITMQ_VHOST": "",
            "RABBITMQ_HOST": "",
            "RABBITMQ_PORT": "",
        }

    def start(self) -> None:
        """Start every node that is not running."""
        self._prepare_home()
        for node in self.nodes:
            if read_pid(node.pid_name):
                continue
            node.base.mkdir(parents=True, exist_ok=True)
            (LOG_DIR / node.pid_name).mkdir(parents=True, exist_ok=True)
            (node.base / "rabbitmq-env.conf").write_text("")
            (node.base / "enabled_plugins").write_text("[].\n")
            memory = 0.2 if NODES == 1 else 0.1  # of the machine's, each
            (node.base / "rabbitmq.conf").write_text(
                "loopback_users = none\n"
                "log.console = true\nlog.console.level = warning\nlog.file = false\n"
                f"vm_memory_high_watermark.relative = {memory}\n"
                "disk_free_limit.absolute = 200MB\n"
            )
            spawn(
                node.pid_name,
                ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
                env_extra=self.server_env(node),
                cwd=node.base,
            )

    def resume(self) -> bool:
        if all(read_pid(n.pid_name) for n in self.nodes):
            return False
        self.start()
        return True

    def ctl(
        self, *args: str, check: bool = True, node: Node | None = None
    ) -> subprocess.CompletedProcess[str]:
        self._prepare_home()
        done = run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", *args],
            env_extra=self.server_env(node),
            check=False,
            cwd=LOG_DIR,  # whatever else the Erlang VM writes lands under .stack/ too
        )
        if check and done.returncode != 0:
            raise StackError(self.explain(args, done))
        return done

    def running_nodes(self) -> set[str]:
        """The cluster's running nodes, as node 1 sees them."""
        done = self.ctl("cluster_status", "--formatter", "json", check=False)
        try:
            return set(json.loads(done.stdout).get("running_nodes", []))
        except ValueError:
            return set()

    def join(self) -> None:
        """Join every running node that is not in node 1's cluster to it (once per node: a node
        that left keeps its membership and rejoins by itself when it starts again)."""
        first = self.nodes[0]
        running = self.running_nodes()
        for node in self.nodes[1:]:
            if node.name in running or not read_pid(node.pid_name):
                continue
            say(f"rabbitmq: {node.name} joins {first.name}")
            self.ctl("await_startup", "--timeout", "60", node=node)
            self.ctl("stop_app", node=node)
            self.ctl("join_cluster", first.name, node=node)
            self.ctl("start_app", node=node)

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
        if not all(amqp_login_ok(port=n.port) for n in self.nodes):
            return False
        return NODES == 1 or self.running_nodes() >= {n.name for n in self.nodes}

    def booted(self) -> bool:
        # A cheap TCP check first: rabbitmqctl boots an Erlang VM (about a second) per call.
        return all(
            port_open(self.host, n.port)
            and self.ctl("await_startup", "--timeout", "5", check=False, node=n).returncode == 0
            for n in self.nodes
        )

    def provision(self) -> None:
        if NODES > 1:
            self.join()
        user, password, vhost = RABBIT.user, RABBIT.password, RABBIT.vhost
        if user not in self.ctl("list_users").stdout.split():
            self.ctl("add_user", user, password)
        else:
            self.ctl("change_password", user, password)
        self.ctl("set_user_tags", user, "administrator")
        ensure_vhost(vhost, ctl=self.ctl)

    def after_up(self) -> None:
        retire_other_queues(RABBIT.vhost)

    def stop(self) -> None:
        for node in self.nodes:
            pid = read_pid(node.pid_name)
            if pid:
                kill_pid(node.pid_name, pid, timeout=60)
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


def retire_other_queues(vhost: str) -> None:
    """The project's queues became quorum queues (config/settings/celery.py): delete the empty
    queues of another type an earlier version declared in this vhost (RabbitMQ refuses to
    declare a queue again with another type); say what to do with one that still holds tasks.
    Over AMQP, in milliseconds: it runs on every `up`."""
    import amqp

    sys.path.insert(0, str(ROOT))
    from eventstore.queues import Queue  # stdlib only: no Django here

    wanted = os.environ.get("CELERY_QUEUE_TYPE") or "quorum"

    def connect() -> amqp.Connection:
        made = amqp.Connection(
            host=f"{RABBIT.host}:{RABBIT.port}",
            userid=RABBIT.user,
            password=RABBIT.password,
            virtual_host=vhost,
            connect_timeout=5,
        )
        made.connect()
        return made

    conn = connect()
    try:
        for queue in Queue:
            try:
                conn.channel().queue_declare(queue.value, passive=True)
            except amqp.exceptions.NotFound:
                continue  # not declared yet: the project declares it
            try:
                conn.channel().queue_declare(
                    queue.value,
                    durable=True,
                    auto_delete=False,
                    arguments={"x-queue-type": wanted},
                )
                continue  # of the wanted type already
            except amqp.exceptions.PreconditionFailed as exc:
                if "x-queue-type" not in str(exc):
                    continue  # another difference: not this function's business

            declared = conn.channel().queue_declare(queue.value, passive=True)
            messages = declared[1] if declared else 0
            if messages:
                raise StackError(
                    f"rabbitmq: queue {queue.value} in vhost {vhost} holds {messages} tasks and "
                    f"is not a {wanted} queue, which the project now declares; run a worker with "
                    f"CELERY_QUEUE_TYPE=classic until it is empty, then make stack-up"
                )
            try:
                conn.channel().queue_delete(queue.value, if_empty=True)
            except amqp.exceptions.AMQPNotImplementedError:  # a quorum queue (empty, above)
                conn = connect()  # that error closed the connection
                conn.channel().queue_delete(queue.value)
            say(f"rabbitmq: deleted the empty queue {queue.value} of vhost {vhost}: {wanted} now")
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def amqp_login_ok(vhost: str | None = None, port: int | None = None) -> bool:
    import amqp

    conn = amqp.Connection(
        host=f"{RABBIT.host}:{port or RABBIT.port}",
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
