"""Redis for the stack."""

from __future__ import annotations

import shutil

from stack_util import REDIS, STACK_DIR, Server, apt_install, spawn


class Redis(Server):
    def __init__(self) -> None:
        super().__init__("redis", REDIS.host, REDIS.port)

    def install(self) -> None:
        if not shutil.which("redis-server"):
            apt_install("redis-server")

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
