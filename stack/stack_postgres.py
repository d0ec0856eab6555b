"""PostgreSQL for the stack: the Debian cluster binaries, a data directory under .stack/."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from stack_util import PG, STACK_DIR, Server, apt_install, pid_alive, run


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

    stop_signal = signal.SIGINT  # fast shutdown: roll back open transactions, then stop

    def stop(self) -> None:
        bindir = self.bindir()
        if bindir and self.managed_pid():
            run(
                [str(bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                user=self._owner(),
            )
