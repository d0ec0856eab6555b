"""Apache Kafka (KRaft) for the stack, assembled from Maven Central jars: one node by default, or
a cluster of STACK_KAFKA_BROKERS nodes on loopback (each a broker and a controller; node i
listens on KAFKA_PORT + 2(i-1) and the next port for its controller; heaps capped so three fit a
small machine). A cluster's internal topics are replicated min(3, N) times with min(2, N) in
sync, and `ensure_topics` runs with KAFKA_REPLICATION_FACTOR=min(3, N) unless it is set.

`up kafka` also starts any node of the cluster that is not running (after a kill, say)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stack_util import (
    CACHE_DIR,
    KAFKA_BOOTSTRAP,
    KAFKA_CONTROLLER_PORT,
    KAFKA_HOST,
    KAFKA_PORT,
    KAFKA_VERSION,
    LOG4J_VERSION,
    MAVEN_COPY_DEPENDENCIES,
    ROOT,
    STACK_DIR,
    Server,
    StackError,
    apt_install,
    kill_pid,
    read_pid,
    run,
    say,
    spawn,
)

BROKERS = int(os.environ.get("STACK_KAFKA_BROKERS") or "1")


@dataclass(frozen=True)
class Node:
    id: int
    port: int
    controller_port: int
    base: Path
    pid_name: str


class Kafka(Server):
    def __init__(self) -> None:
        super().__init__("kafka", KAFKA_HOST or "127.0.0.1", KAFKA_PORT)
        self.libs = CACHE_DIR / f"kafka-{KAFKA_VERSION}" / "libs"
        self.brokers = BROKERS
        if self.brokers < 1:
            raise StackError(f"STACK_KAFKA_BROKERS must be at least 1, not {self.brokers}")
        if self.brokers == 1:
            self.base = STACK_DIR / "kafka"
            self.nodes = [Node(1, KAFKA_PORT, KAFKA_CONTROLLER_PORT, self.base, "kafka")]
        else:
            self.base = STACK_DIR / "kafka-cluster"
            self.nodes = [
                Node(
                    i,
                    KAFKA_PORT + 2 * (i - 1),
                    KAFKA_PORT + 2 * (i - 1) + 1,
                    self.base / f"node-{i}",
                    f"kafka-{i}",
                )
                for i in range(1, self.brokers + 1)
            ]

    @property
    def bootstrap(self) -> str:
        """Every node's address (a client that knows one node that is down still connects)."""
        if self.brokers == 1:
            return KAFKA_BOOTSTRAP
        return ",".join(f"{self.host}:{node.port}" for node in self.nodes)

    def data_dirs(self) -> list[Path]:
        return [self.base]

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
        """A running node's pid (any: `up` starts the others again)."""
        return next((pid for n in self.nodes if (pid := read_pid(n.pid_name))), None)

    def node_pids(self) -> dict[int, int | None]:
        return {n.id: read_pid(n.pid_name) for n in self.nodes}

    def _write_config(self, node: Node) -> Path:
        node.base.mkdir(parents=True, exist_ok=True)
        props = node.base / "server.properties"
        replicas, in_sync = min(3, self.brokers), min(2, self.brokers)
        if self.brokers == 1:
            quorum = f"controller.quorum.bootstrap.servers={self.host}:{node.controller_port}"
        else:
            quorum = "controller.quorum.voters=" + ",".join(
                f"{n.id}@{self.host}:{n.controller_port}" for n in self.nodes
            )
        props.write_text(
            KAFKA_PROPERTIES.format(
                node=node.id,
                quorum=quorum,
                host=self.host,
                port=node.port,
                cport=node.controller_port,
                data=node.base / "data",
                replicas=replicas,
                in_sync=in_sync,
            )
        )
        (node.base / "log4j2.properties").write_text(LOG4J_PROPERTIES.format(level="INFO"))
        (node.base / "log4j2-tools.properties").write_text(
            LOG4J_PROPERTIES.format(level="WARN").replace("SYSTEM_OUT", "SYSTEM_ERR")
        )
        return props

    def _java(
        self, node: Node, main: str, *args: str, log4j: str, heap: str = "-Xmx256m"
    ) -> list[str]:
        return [
            "java",
            heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.base / log4j}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _cluster_id(self) -> str:
        stored = self.base / "cluster.id"
        if self.brokers > 1 and stored.exists():
            return stored.read_text().strip()
        node = self.nodes[0]
        self._write_config(node)
        made = run(
            self._java(
                node, "kafka.tools.StorageTool", "random-uuid", log4j="log4j2-tools.properties"
            )
        ).stdout.strip()
        if self.brokers > 1:
            stored.write_text(made + "\n")
        return made

    def start(self) -> None:
        """Start every node that is not running (formatting its storage the first time)."""
        cluster_id: str | None = None
        for node in self.nodes:
            if read_pid(node.pid_name):
                continue
            props = self._write_config(node)
            if not (node.base / "data" / "meta.properties").exists():
                cluster_id = cluster_id or self._cluster_id()
                standalone = ["--standalone"] if self.brokers == 1 else []
                run(
                    self._java(
                        node,
                        "kafka.tools.StorageTool",
                        "format",
                        "-t",
                        cluster_id,
                        "-c",
                        str(props),
                        *standalone,
                        log4j="log4j2-tools.properties",
                    )
                )
            heap = "-Xmx512m" if self.brokers == 1 else "-Xmx384m"
            cmd = self._java(node, "kafka.Kafka", str(props), log4j="log4j2.properties", heap=heap)
            cmd.insert(1, "-Xms256m" if self.brokers == 1 else "-Xms128m")
            cmd.insert(2, "-XX:+ExitOnOutOfMemoryError")
            spawn(node.pid_name, cmd, env_extra={}, cwd=node.base)

    def resume(self) -> bool:
        if all(read_pid(n.pid_name) for n in self.nodes):
            return False
        self.start()
        return True

    def ready(self) -> bool:
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient(
                {
                    "bootstrap.servers": self.bootstrap,
                    "socket.timeout.ms": 1000,
                    "log_level": 0,
                }
            )
            meta = admin.list_topics(timeout=1.5)
            running = all(read_pid(n.pid_name) for n in self.nodes) or not self.managed_pid()
            return running and len(meta.brokers) >= self.brokers
        except Exception:  # noqa: BLE001 - KafkaException or a timeout: not ready yet
            return False

    def provision(self) -> None:
        pass  # nothing to set up before the broker answers; topics come after (create_topics)

    def create_topics(self) -> None:
        # Topics are declared by the Django project (settings.KAFKA_TOPICS); create them there.
        if os.environ.get("STACK_SKIP_TOPICS"):
            return
        settings_env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        if self.brokers > 1 and not os.environ.get("KAFKA_REPLICATION_FACTOR"):
            settings_env["KAFKA_REPLICATION_FACTOR"] = str(min(3, self.brokers))
        proc = run(
            [sys.executable, str(ROOT / "manage.py"), "ensure_topics"],
            check=False,
            env_extra=settings_env,
        )
        if proc.returncode != 0:
            raise StackError(
                "creating Kafka topics failed: "
                + " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            )
        for line in proc.stdout.strip().splitlines():
            say(f"kafka: {line}")

    def stop(self) -> None:
        # All at once: a node stopped last, after the others, waits for a controller quorum
        # that is gone before it shuts down.
        pids = {n.pid_name: pid for n in self.nodes if (pid := read_pid(n.pid_name))}
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for name, pid in pids.items():
            kill_pid(name, pid, timeout=60)

    def stop_foreign(self, pid: int) -> None:
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

KAFKA_PROPERTIES = """# Written by stack/stack_kafka.py on every start; edit the template there.
process.roles=broker,controller
node.id={node}
{quorum}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
advertised.listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=3
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={in_sync}
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={in_sync}
default.replication.factor={replicas}
min.insync.replicas={in_sync}
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
