"""Apache Kafka (KRaft, one node) for the stack, assembled from Maven Central jars."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
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

KAFKA_PROPERTIES = """# Written by stack/stack_kafka.py on every start; edit the template there.
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
