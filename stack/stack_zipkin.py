"""Zipkin's server (a trace backend to open in a browser), on request only:
`python stack/stack.py up zipkin` (`make tracing-up`). Its executable jar comes from Maven
Central into the per-machine cache, like Kafka's jars; spans live in memory."""

from __future__ import annotations

import shutil

from stack_util import (
    CACHE_DIR,
    MAVEN_COPY_DEPENDENCIES,
    STACK_DIR,
    Server,
    apt_install,
    env,
    http_ok,
    run,
    say,
    spawn,
)

ZIPKIN_VERSION = env("STACK_ZIPKIN_VERSION", "3.5.1")
MAVEN_COPY = MAVEN_COPY_DEPENDENCIES.replace(":copy-dependencies", ":copy")


class Zipkin(Server):
    def __init__(self) -> None:
        super().__init__("zipkin", "127.0.0.1", int(env("STACK_ZIPKIN_PORT", "9411")))
        self.dir = CACHE_DIR / f"zipkin-{ZIPKIN_VERSION}"
        self.jar = self.dir / f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"

    def install(self) -> None:
        if not shutil.which("java"):
            apt_install("openjdk-17-jre-headless")
        if self.jar.exists():
            return
        if not shutil.which("mvn"):
            apt_install("maven")
        say(f"fetching Zipkin {ZIPKIN_VERSION}'s server jar from Maven Central (once per machine)")
        run(
            [
                "mvn",
                "-B",
                "-q",
                MAVEN_COPY,
                f"-Dartifact=io.zipkin:zipkin-server:{ZIPKIN_VERSION}:jar:exec",
                f"-DoutputDirectory={self.dir}",
            ]
        )

    def start(self) -> None:
        base = STACK_DIR / self.name
        base.mkdir(parents=True, exist_ok=True)
        cmd = [
            "java",
            "-Xms64m",
            "-Xmx256m",
            "-XX:+ExitOnOutOfMemoryError",
            "-jar",
            str(self.jar),
            f"--armeria.ports[0].ip={self.host}",
            f"--armeria.ports[0].port={self.port}",
        ]
        spawn(self.name, cmd, env_extra={"STORAGE_TYPE": "mem"}, cwd=base)

    def ready(self) -> bool:
        return http_ok(f"http://{self.address}/health")
