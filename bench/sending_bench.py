"""Celery tasks sent one by one (Celery's send_task, which awaits each message's confirm) beside
sent together (eventstore.sending: published in a row, their confirms awaited once), in batches
as a side effect's jobs or a relay's wake-ups come, to a quorum queue of the run's own; in
alternating rounds. Tasks a second of wall time, and the sender's CPU per task.

    make bench-sending [BENCH_ARGS="--cluster --batch 10 --runs 3"]

With --cluster the broker is the three-node RabbitMQ cluster of `make test-cluster` (started for
the run and stopped after, unless it was up): a quorum queue confirms once a majority of its
members have the message on disk, so each wait is a round of replication.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from bench.common import ROOT, medians, ratio, report, summarize

CLUSTER_ENV = {
    "STACK_DIR": str(ROOT / ".stack" / "cluster"),
    "STACK_RABBITMQ_NODES": "3",
    "RABBITMQ_PORT": "16672",
    "RABBITMQ_NODES": "127.0.0.1:16672,127.0.0.1:16674,127.0.0.1:16676",
    "STACK_SKIP_TOPICS": "1",
}


def measure(batch: int, tasks: int, runs: int) -> dict[str, list[float]]:
    from celery import current_app
    from kombu import Queue as KombuQueue

    from eventstore import sending

    queue = KombuQueue(
        f"bench-sending-{uuid.uuid4().hex[:8]}", queue_arguments={"x-queue-type": "quorum"}
    )
    messages = [sending.TaskMessage("bench.nothing", [n], {"queue": queue}) for n in range(batch)]
    ways = {"one by one": sending._send_each, "together": sending.send_tasks}
    samples: dict[str, list[float]] = {}
    try:
        for send in ways.values():
            send(messages)  # connections, channels and the queue's declaration
        for run in range(runs):
            order = list(ways.items())
            for name, send in order if run % 2 == 0 else order[::-1]:
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(tasks // batch):
                    send(messages)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                sent = tasks // batch * batch
                samples.setdefault(f"{name}, tasks/s", []).append(sent / wall)
                samples.setdefault(f"{name}, CPU us/task", []).append(cpu / sent * 1e6)
                print(f"  round {run + 1} {name:<12}{sent / wall:>10.0f} tasks/s", flush=True)
    finally:
        with current_app.connection_for_write() as conn:
            channel: Any = conn.default_channel
            channel.queue_delete(queue.name)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", action="store_true", help="on the 3-node RabbitMQ cluster")
    parser.add_argument("--batch", type=int, default=10, help="tasks sent in one call")
    parser.add_argument("--tasks", type=int, default=2000, help="tasks a round, each way")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="500 tasks a round")
    args = parser.parse_args()
    started = False
    if args.cluster and os.environ.get("RABBITMQ_NODES") != CLUSTER_ENV["RABBITMQ_NODES"]:
        env = {**os.environ, **CLUSTER_ENV}
        stack = [sys.executable, str(ROOT / "stack" / "stack.py")]
        running = subprocess.run([*stack, "status", "rabbitmq"], env=env, capture_output=True)
        started = b" up " not in running.stdout
        subprocess.run([*stack, "up", "rabbitmq"], env=env, check=True)
        try:
            return subprocess.run(
                [sys.executable, "-m", "bench.sending_bench", *sys.argv[1:]], env=env, cwd=ROOT
            ).returncode
        finally:
            if started:
                subprocess.run([*stack, "down", "rabbitmq"], env=env, check=False)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.development")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    tasks = 500 if args.quick else args.tasks
    where = "3-node cluster" if args.cluster else "one node"
    print(f"tasks sent in batches of {args.batch}, to a quorum queue on {where}", flush=True)
    figures = summarize(measure(args.batch, tasks, args.runs))
    med = medians(figures)
    report(
        "sending-cluster" if args.cluster else "sending",
        figures,
        {
            "together / one by one, tasks/s": (
                ratio(med("together, tasks/s"), med("one by one, tasks/s")),
                f"batches of {args.batch}, {where}",
            ),
            "together / one by one, CPU": (
                ratio(med("together, CPU us/task"), med("one by one, CPU us/task")),
                "the sender's CPU per task",
            ),
        },
        "tasks/s and CPU us/task",
        {"batch": args.batch, "tasks_per_round": tasks, "broker": where},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
