"""Prometheus (Debian's `prometheus` package), on request only: `python stack/stack.py up
prometheus` (`make metrics-up`). It scrapes the processes listed in target files under
`.stack/prometheus/targets/` (file-based discovery: a file added or changed is picked up within
seconds, no restart), evaluates the project's alert rules (docker/prometheus/alerts.yml), and
keeps its data under `.stack/prometheus/data`.

The stack writes `targets/procfile.json`: the processes as `make run` starts them (the web on
WEB_PORT, the others on the METRICS_PORT the Procfile gives each)."""

from __future__ import annotations

import json
import shutil

from stack_util import ROOT, STACK_DIR, Server, apt_install, env, http_ok, spawn

RULES = ROOT / "docker" / "prometheus" / "alerts.yml"
# The ports the Procfile gives the processes that are not the web.
PROCFILE_PORTS = {"worker": 9101, "follower": 9102, "relay": 9103, "beat": 9104}


class Prometheus(Server):
    def __init__(self) -> None:
        super().__init__("prometheus", "127.0.0.1", int(env("STACK_PROMETHEUS_PORT", "9090")))
        self.base = STACK_DIR / "prometheus"
        self.targets = self.base / "targets"
        self.interval = env("STACK_PROMETHEUS_INTERVAL", "2s")

    def install(self) -> None:
        if not shutil.which("prometheus") or not shutil.which("promtool"):
            apt_install("prometheus")

    def configure(self) -> None:
        self.targets.mkdir(parents=True, exist_ok=True)
        web = int(env("WEB_PORT", "8000"))
        procfile = [{"targets": [f"127.0.0.1:{web}"], "labels": {"job": "web"}}] + [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"job": job}}
            for job, port in PROCFILE_PORTS.items()
        ]
        (self.targets / "procfile.json").write_text(json.dumps(procfile, indent=2) + "\n")
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": "cqrs",
                    "file_sd_configs": [
                        {"files": [str(self.targets / "*.json")], "refresh_interval": "5s"}
                    ],
                }
            ],
        }
        # JSON is YAML: no YAML writer needed.
        (self.base / "prometheus.yml").write_text(json.dumps(config, indent=2) + "\n")

    def start(self) -> None:
        self.configure()
        cmd = [
            "prometheus",
            f"--config.file={self.base / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.base / 'data'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address={self.address}",
            "--web.enable-lifecycle",
        ]
        spawn(self.name, cmd, env_extra={}, cwd=self.base)

    def ready(self) -> bool:
        return http_ok(f"http://{self.address}/-/ready")
