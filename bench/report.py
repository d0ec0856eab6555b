"""The benchmark report: one JSON with every scenario, a markdown summary and PNG charts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (label, scenario, figure key) pairs: the system beside its baseline, same unit.
PAIRS = [
    ("append (1 writer) vs raw insert", "eventstore", "append_1_writer", "raw_insert_per_tx"),
    ("append vs eventsourcing lib", "eventstore", "append_1_writer", "eventsourcing_1_writer"),
    ("relay vs raw produce", "eventstore", "relay", "raw_produce"),
    (
        "projection (Postgres) vs raw upserts",
        "projections",
        "path_postgres",
        "raw_postgres_upserts",
    ),
    ("projection (Redis) vs raw pipeline", "projections", "path_redis", "raw_redis_pipeline"),
    (
        "commands vs DRF+ORM update",
        "http",
        "command: change price req/s",
        "baseline: update price req/s",
    ),
    (
        "Redis reads vs DRF+ORM read",
        "http",
        "read: product (Redis) req/s",
        "baseline: read product req/s",
    ),
]


def median(result: dict[str, Any], key: str) -> float | None:
    figure = result.get("figures", {}).get(key)
    return None if figure is None else float(figure["median"])


def write(run: dict[str, Any], out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    paths[0].write_text(json.dumps(run, indent=2, default=str))
    paths[1].write_text(markdown(run, stem))
    paths += charts(run, out, stem)
    return paths


def markdown(run: dict[str, Any], stem: str) -> str:
    lines = [
        f"# Benchmark {stem}",
        "",
        f"{'Quick' if run.get('quick') else 'Full'} run, {run.get('seconds', 0):.0f} s, "
        "medians of the runs (min to max in brackets). Ratios are the headline: this machine "
        "is shared and noisy.",
        "",
        "## Ratios",
        "",
        "| ratio | value | target / note |",
        "| --- | ---: | --- |",
    ]
    for name, result in run["scenarios"].items():
        for label, value in result.get("ratios", {}).items():
            note = result.get("ratio_notes", {}).get(label, "")
            shown = f"{value:.2f}" if value is not None else "n/a"
            lines.append(f"| {name}: {label} | {shown} | {note} |")
    for name, result in run["scenarios"].items():
        lines += ["", f"## {name} ({result.get('unit', '')})", "", "| figure | median | range |"]
        lines.append("| --- | ---: | ---: |")
        for key, f in result.get("figures", {}).items():
            lines.append(f"| {key} | {f['median']:,.1f} | {f['min']:,.1f} to {f['max']:,.1f} |")
        for extra, value in result.items():
            if extra.startswith("lag_ms_at_") or extra in ("latency_ms", "memory_peak_mb"):
                lines += ["", f"`{extra}`: `{json.dumps(value, default=_round)}`"]
        if "replay" in result:
            replay = {k: v for k, v in result["replay"].items() if k != "progress"}
            lines += ["", f"`replay`: `{json.dumps(replay, default=_round)}`"]
    hops = run["scenarios"].get("hops", {}).get("hops", {})
    if hops:
        lines += ["", "## A write, hop by hop (us per request, one thread)", ""]
        lines += ["| hop | command | baseline |", "| --- | ---: | ---: |"]
        for hop, value in hops.get("command", {}).items():
            lines.append(f"| {hop} | {value:,.0f} | {hops.get('baseline', {}).get(hop, 0):,.0f} |")
    profiles = run["scenarios"].get("profiles", {}).get("profiles", {})
    if profiles:
        lines += ["", "## Where the time goes", ""]
        lines.append(
            "pyinstrument profiles of the paths whose targets are missed, run in-process on "
            "the real servers (the top of each; `await`/socket waits are time in Postgres, "
            "Kafka or Redis)."
        )
        for name, text in profiles.items():
            lines += ["", f"### {name}", "", "```", text, "```"]
    lines += ["", "Charts: " + ", ".join(f"`{stem}-{c}.png`" for c in CHARTS), ""]
    return "\n".join(lines)


def _round(value: Any) -> Any:
    return round(value, 1) if isinstance(value, float) else str(value)


CHARTS = ("throughput", "latency", "lag", "memory", "scaling", "growth", "replay")


def charts(run: dict[str, Any], out: Path, stem: str) -> list[Path]:
    scenarios = run["scenarios"]
    made = []

    # Throughput: each system figure beside its baseline, with the ratio.
    rows = []
    for label, scenario, mine, theirs in PAIRS:
        result = scenarios.get(scenario, {})
        a, b = median(result, mine), median(result, theirs)
        if a and b:
            rows.append((label, a, b))
    if rows:
        fig, ax = plt.subplots(figsize=(9, 0.7 * len(rows) + 1.5))
        y = range(len(rows))
        ax.barh([i + 0.2 for i in y], [r[1] for r in rows], height=0.4, label="this system")
        ax.barh([i - 0.2 for i in y], [r[2] for r in rows], height=0.4, label="baseline")
        for i, (_, a, b) in enumerate(rows):
            ax.text(max(a, b) * 1.02, i, f"x{a / b:.2f}", va="center")
        ax.set_yticks(list(y), [r[0] for r in rows])
        ax.set_xscale("log")
        ax.set_xlabel("per second (log scale)")
        ax.legend(loc="lower right")
        ax.set_title("Throughput beside the baselines (ratio = this / baseline)")
        made.append(_save(fig, out / f"{stem}-throughput.png"))

    http = scenarios.get("http", {}).get("latency_ms", {})
    if http:
        fig, ax = plt.subplots(figsize=(9, 4))
        names = list(http)
        _percentile_bars(ax, names, lambda n, q: http[n][q]["median"])
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("ms")
        ax.axhline(50, color="grey", linestyle="--", linewidth=0.8)
        ax.legend()
        ax.set_title("HTTP latency (dashed: the 50 ms p99 target)")
        made.append(_save(fig, out / f"{stem}-latency.png"))

    projections = scenarios.get("projections", {})
    lags = {k: v for k, v in projections.items() if k.startswith("lag_ms_at_")}
    if lags:
        fig, ax = plt.subplots(figsize=(7, 4))
        names = sorted(lags)
        _percentile_bars(ax, names, lambda n, q: lags[n][q])
        ax.set_xticks(range(len(names)), [n.removeprefix("lag_ms_at_") for n in names])
        ax.set_ylabel("write-to-read lag, ms")
        ax.axhline(50, color="grey", linestyle="--", linewidth=0.8)
        ax.legend()
        ax.set_title("Write-to-read lag (dashed: the 50 ms p99 target)")
        made.append(_save(fig, out / f"{stem}-lag.png"))

    memory = scenarios.get("http", {}).get("memory_peak_mb", {})
    if memory:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(list(memory), list(memory.values()))
        ax.set_ylabel("peak RSS, MB (process and children)")
        ax.set_title("Memory under load")
        made.append(_save(fig, out / f"{stem}-memory.png"))

    series = [
        ("scaling", "projections", "path_postgres_", "worker processes", "events/s applied"),
        ("growth", "eventstore", "append_at_", "events already stored", "appends/s"),
    ]
    for chart, scenario, prefix, xlabel, ylabel in series:
        points = {
            k.removeprefix(prefix).replace("_workers", "").replace("_stored", ""): f["median"]
            for k, f in scenarios.get(scenario, {}).get("figures", {}).items()
            if k.startswith(prefix) and k[len(prefix)].isdigit()
        }
        if points:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.bar(list(points), list(points.values()))
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel} by {xlabel}")
            made.append(_save(fig, out / f"{stem}-{chart}.png"))

    progress = projections.get("replay", {}).get("progress")
    if progress:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([p[0] for p in progress], [p[1] for p in progress])
        ax.set_xlabel("seconds")
        ax.set_ylabel("events replayed")
        ax.set_title("Replay progress")
        made.append(_save(fig, out / f"{stem}-replay.png"))
    return made


def _percentile_bars(ax: Any, names: list[str], value: Callable[[str, str], float]) -> None:
    for offset, q in zip((-0.25, 0, 0.25), ("p50", "p95", "p99"), strict=True):
        ax.bar([i + offset for i in range(len(names))], [value(n, q) for n in names], 0.25, label=q)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
