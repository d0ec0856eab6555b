"""Operational tasks that belong to no module."""

from __future__ import annotations

import os
import socket

from config.celery import app


@app.task(name="ops.ping", acks_late=True)
def ping(token: str) -> dict[str, object]:
    """Answers with the token and who ran it: proves a worker consumes from RabbitMQ."""
    return {"token": token, "pid": os.getpid(), "host": socket.gethostname()}
