"""The no-Docker stack runner: status, and a port held by an incompatible server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import ROOT, stack


def test_status_lists_each_server_with_its_address_and_up() -> None:
    out = stack("status").stdout.splitlines()
    assert [line.split()[0] for line in out] == ["postgres", "redis", "rabbitmq", "kafka"]
    assert all(line.split()[2] == "up" for line in out), out
    assert all(line.split()[1].startswith("127.0.0.1:") for line in out), out


def test_up_reports_a_port_taken_by_an_incompatible_server_in_one_line(tmp_path: Path) -> None:
    # A listener that accepts connections and never answers: the worst kind of squatter.
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(8)
    port = squatter.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        squatter.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(squatter.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "stack" / "stack.py"), "up", "redis"],
            env={**os.environ, "REDIS_PORT": str(port), "STACK_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        squatter.close()
        for conn in accepted:
            conn.close()
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    assert f"port 127.0.0.1:{port} is taken" in lines[0]
    assert "REDIS_PORT" in lines[0]
    assert elapsed < 20, f"took {elapsed:.1f}s: must fail fast, never hang"
    assert not (tmp_path / "redis").exists(), "nothing may be started on a taken port"
