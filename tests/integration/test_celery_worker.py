"""A task goes over the real RabbitMQ to a real `celery worker` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from config.tasks import ping

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_task_is_executed_by_a_real_worker_process_over_rabbitmq(tmp_path: Path) -> None:
    assert settings.CELERY_BROKER_URL.startswith("amqp://")
    assert settings.CELERY_BROKER_URL.endswith(f"/{settings.RABBITMQ_VHOST}")
    log = tmp_path / "worker.log"
    with open(log, "wb") as fh:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "-Q",
                "ops",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"test-{uuid.uuid4().hex[:6]}@%h",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        token = uuid.uuid4().hex
        result = ping.apply_async(args=(token,)).get(timeout=90)
        assert result["token"] == token
        assert result["pid"] == worker.pid, "the task must run in the worker process"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, log.read_text()[-2000:]
