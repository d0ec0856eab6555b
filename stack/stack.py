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
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
) -> subprocess.CompletedProcess[str]:
    if user and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--", *cmd]
    full_env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True)
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


def kill_pid(name: str, pid: int, timeout: float = 30) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        say(f"{name} did not stop in {timeout:.0f}s; killing pid {pid}")
        os.kill(pid, signal.SIGKILL)


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
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def booted(self) -> bool:
        """Up enough to provision (users, vhosts); by default the same as ready."""
        return self.ready()

    def provision(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def log(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def data_dirs(self) -> list[Path]:
        return [STACK_DIR / self.name]


class Postgres(Server):
    def __init__(self) -> None:
        super().__init__("postgres", PG.host, PG.port)
        self.data = STACK_DIR / "postgres" / "data"
        self.sock = STACK_DIR / "postgres" / "run"

    def bindir(self) -> Path | None:
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
            key=lambda p: int(p.parent.parent.name),
        )
        return versions[-1].parent if versions else None

    def install(self) -> None:
        if not self.bindir():
            apt_install("postgresql")

    def _owner(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def managed_pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    def start(self) -> None:
        bindir = self.bindir()
        assert bindir
        owner = self._owner()
        self.sock.mkdir(parents=True, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            if owner:
                shutil.chown(self.data, owner, owner)
                shutil.chown(self.sock, owner, owner)
            run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
                user=owner,
            )
        if owner:
            shutil.chown(self.sock, owner, owner)
            log = self.log
            log.touch()
            shutil.chown(log, owner, owner)
        opts = (
            f"-c listen_addresses={self.host} -p {self.port} -k {self.sock} "
            "-c fsync=on -c max_connections=200 -c shared_buffers=256MB"
        )
        run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                opts,
                "-W",
                "start",
            ],
            user=owner,
        )

    def _superuser_sql(self, sql: str) -> str:
        bindir = self.bindir()
        assert bindir
        proc = run(
            [
                str(bindir / "psql"),
                "-h",
                str(self.sock),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-Atqc",
                sql,
            ],
            user=self._owner(),
        )
        return proc.stdout.strip()

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                host=self.host,
                port=self.port,
                dbname=PG.db,
                user=PG.user,
                password=PG.password,
                connect_timeout=2,
            ) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def booted(self) -> bool:
        bindir = self.bindir()
        assert bindir
        return (
            run(
                [str(bindir / "pg_isready"), "-h", str(self.sock), "-p", str(self.port)],
                check=False,
            ).returncode
            == 0
        )

    def provision(self) -> None:
        user, password, db = PG.user, PG.password, PG.db
        quoted = password.replace("'", "''")
        if not self._superuser_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'"):
            self._superuser_sql(f"CREATE ROLE \"{user}\" LOGIN CREATEDB PASSWORD '{quoted}'")
        else:
            self._superuser_sql(f"ALTER ROLE \"{user}\" LOGIN CREATEDB PASSWORD '{quoted}'")
        if not self._superuser_sql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
            self._superuser_sql(f'CREATE DATABASE "{db}" OWNER "{user}"')

    def stop(self) -> None:
        bindir = self.bindir()
        if bindir and self.managed_pid():
            run(
                [str(bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                user=self._owner(),
            )


class Redis(Server):
    def __init__(self) -> None:
        super().__init__("redis", REDIS.host, REDIS.port)

    def install(self) -> None:
        if not shutil.which("redis-server"):
            apt_install("redis-server")

    def managed_pid(self) -> int | None:
        return read_pid(self.name)

    def start(self) -> None:
        data = STACK_DIR / "redis"
        data.mkdir(parents=True, exist_ok=True)
        spawn(
            self.name,
            [
                "redis-server",
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--dir",
                str(data),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--databases",
                "64",
            ],
            env_extra={},
            cwd=data,
        )

    def ready(self) -> bool:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            client = redis.Redis(
                host=self.host,
                port=self.port,
                socket_timeout=1,
                socket_connect_timeout=1,
                retry=Retry(NoBackoff(), 0),
            )
            return bool(client.ping())
        except redis.RedisError:
            return False

    def provision(self) -> None:
        pass

    def stop(self) -> None:
        pid = self.managed_pid()
        if pid:
            kill_pid(self.name, pid)


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


class Kafka(Server):
    def __init__(self) -> None:
        super().__init__("kafka", KAFKA_HOST or "127.0.0.1", KAFKA_PORT)
        self.base = STACK_DIR / "kafka"
        self.libs = CACHE_DIR / f"kafka-{KAFKA_VERSION}" / "libs"

    def install(self) -> None:
        if not shutil.which("java"):
            apt_install("openjdk-17-jre-headless")
        stamp = self.libs.parent / "complete"
        if stamp.exists():
            return
        if not shutil.which("mvn"):
            apt_install("maven")
        say(f"assembling Apache Kafka {KAFKA_VERSION} from Maven Central jars (once per machine)")
        with tempfile.TemporaryDirectory() as tmp:
            pom = Path(tmp) / "pom.xml"
            pom.write_text(KAFKA_POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
            if self.libs.exists():
                shutil.rmtree(self.libs)
            run(
                [
                    "mvn",
                    "-B",
                    "-q",
                    "-f",
                    str(pom),
                    MAVEN_COPY_DEPENDENCIES,
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={self.libs}",
                ]
            )
        stamp.write_text(KAFKA_VERSION)

    def managed_pid(self) -> int | None:
        return read_pid(self.name)

    def _write_config(self) -> Path:
        self.base.mkdir(parents=True, exist_ok=True)
        props = self.base / "server.properties"
        props.write_text(
            KAFKA_PROPERTIES.format(
                host=self.host, port=self.port, cport=KAFKA_CONTROLLER_PORT, data=self.base / "data"
            )
        )
        (self.base / "log4j2.properties").write_text(LOG4J_PROPERTIES.format(level="INFO"))
        (self.base / "log4j2-tools.properties").write_text(
            LOG4J_PROPERTIES.format(level="WARN").replace("SYSTEM_OUT", "SYSTEM_ERR")
        )
        return props

    def _java(self, main: str, *args: str, log4j: str, heap: str = "-Xmx256m") -> list[str]:
        return [
            "java",
            heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.base / log4j}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def start(self) -> None:
        props = self._write_config()
        if not (self.base / "data" / "meta.properties").exists():
            cluster_id = run(
                self._java(
                    "kafka.tools.StorageTool", "random-uuid", log4j="log4j2-tools.properties"
                )
            ).stdout.strip()
            run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--standalone",
                    log4j="log4j2-tools.properties",
                )
            )
        cmd = self._java("kafka.Kafka", str(props), log4j="log4j2.properties", heap="-Xmx512m")
        cmd.insert(1, "-Xms256m")
        cmd.insert(2, "-XX:+ExitOnOutOfMemoryError")
        spawn(self.name, cmd, env_extra={}, cwd=self.base)

    def ready(self) -> bool:
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient(
                {
                    "bootstrap.servers": KAFKA_BOOTSTRAP,
                    "socket.timeout.ms": 1000,
                    "log_level": 0,
                }
            )
            meta = admin.list_topics(timeout=1.5)
            return len(meta.brokers) > 0
        except Exception:  # noqa: BLE001 - KafkaException or a timeout: not ready yet
            return False

    def provision(self) -> None:
        pass  # nothing to set up before the broker answers; topics come after (create_topics)

    def create_topics(self) -> None:
        # Topics are declared by the Django project (settings.KAFKA_TOPICS); create them there.
        if os.environ.get("STACK_SKIP_TOPICS"):
            return
        proc = run([sys.executable, str(ROOT / "manage.py"), "ensure_topics"], check=False)
        if proc.returncode != 0:
            raise StackError(
                "creating Kafka topics failed: "
                + " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            )
        for line in proc.stdout.strip().splitlines():
            say(f"kafka: {line}")

    def stop(self) -> None:
        pid = self.managed_pid()
        if pid:
            kill_pid(self.name, pid, timeout=60)


KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stack</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

KAFKA_PROPERTIES = """# Written by stack/stack.py on every start; edit the template there.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={host}:{cport}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
advertised.listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=3
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=4
"""

LOG4J_PROPERTIES = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""

SERVERS: dict[str, Callable[[], Server]] = {
    "postgres": Postgres,
    "redis": Redis,
    "rabbitmq": RabbitMQ,
    "kafka": Kafka,
}
READY_TIMEOUT = {"postgres": 60.0, "redis": 20.0, "rabbitmq": 90.0, "kafka": 120.0}


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
            if s.ready():
                say(f"{s.name} already running on {s.address}")
                continue
            started.append(s)  # ours, still booting (or just provisioned wrong): wait below
            continue
        if port_open(s.host, s.port):
            if s.ready():
                say(f"{s.name}: reusing the compatible server already listening on {s.address}")
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
        say(f"{s.name} ready on {s.address}")
    kafka = next((s for s in servers if isinstance(s, Kafka)), None)
    if kafka is not None:
        kafka.create_topics()
    say(f"up in {time.monotonic() - t0:.1f}s")


def cmd_down(servers: list[Server]) -> None:
    for s in reversed(servers):
        if s.managed_pid():
            say(f"stopping {s.name}")
            s.stop()
        else:
            say(f"{s.name} not running (from this project)")


def cmd_status(servers: list[Server]) -> int:
    down = 0
    for s in servers:
        up = s.ready()
        owner = "managed" if s.managed_pid() else ("external" if up else "-")
        print(f"{s.name:<9} {s.address:<22} {'up' if up else 'DOWN':<5} {owner}")
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "reset", "vhost"])
    parser.add_argument("names", nargs="*", help="servers (default: all), or vhost add|delete NAME")
    args = parser.parse_args(argv)
    try:
        if args.command == "vhost":
            return cmd_vhost(args.names)
        unknown = [n for n in args.names if n not in SERVERS]
        if unknown:
            raise StackError(
                f"unknown server {', '.join(unknown)}; choose from {', '.join(SERVERS)}"
            )
        servers = [SERVERS[n]() for n in (args.names or SERVERS)]
        if args.command == "up":
            cmd_up(servers)
        elif args.command == "down":
            cmd_down(servers)
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
