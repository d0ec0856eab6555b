"""Rebuild projections from the beginning of the Kafka log.

    manage.py replay_projections NAME [NAME ...] | --all  [--shadow [--no-swap]] [--dry-run]
                                                           [--restart] [--jobs N]

Shows a progress bar with events/s, lag and ETA. Stopped by Ctrl-C or a crash, running it again
resumes where it stopped (use --restart to start over). With --shadow the live read model keeps
serving while the new one is built beside it; the two are compared, then swapped atomically
(--no-swap: build and compare only). --jobs rebuilds that many partitions at once, each in
its own process (default: one per core).
"""

from __future__ import annotations

from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from projections import registry, replay, shadow


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="projections to rebuild")
        parser.add_argument("--all", action="store_true", help="rebuild every projection")
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be rebuilt, change nothing"
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="start over even if a stopped rebuild could resume",
        )
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--jobs",
            type=int,
            default=replay.default_jobs(),
            help="processes rebuilding partitions at once (default: one per core)",
        )
        parser.add_argument(
            "--shadow",
            action="store_true",
            help="zero downtime: build beside the live model, compare, swap",
        )
        parser.add_argument(
            "--no-swap",
            action="store_true",
            help="with --shadow: build and compare, leave the live model",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["names"]
        if options["all"]:
            if names:
                raise CommandError("give projection names or --all, not both")
            names = sorted(registry.projections())
        if not names:
            raise CommandError(
                "name the projections to rebuild, or pass --all; known: "
                + ", ".join(sorted(registry.projections()))
            )
        if options["no_swap"] and not options["shadow"]:
            raise CommandError("--no-swap only makes sense with --shadow")
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1")
        try:
            plans = [replay.plan(name) for name in dict.fromkeys(names)]
        except registry.UnknownProjection as exc:
            raise CommandError(str(exc)) from exc
        for p in plans:
            verb = "resume" if p.resuming and not options["restart"] else "rebuild"
            effect = f"clears {', '.join(p.clears)}"
            if options["shadow"]:
                verb = f"{verb} in a shadow, compare{'' if options['no_swap'] else ' and swap'}"
                effect = f"live {', '.join(p.clears)} keep serving"
            self.stdout.write(
                f"{p.projection}: {verb}, {p.events} events from "
                f"{len(p.partitions)} partitions; {effect}"
            )
        if options["dry_run"]:
            return
        console = Console(file=cast(IO[str], self.stdout._out))  # the real stream, for the bar
        for p in plans:
            self._rebuild(p, console, options)

    def _rebuild(self, p: replay.Plan, console: Console, options: dict[str, Any]) -> None:
        total = p.events if not options["restart"] else sum(end for *_, end in p.partitions)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} ev/s"),
            TextColumn("lag {task.fields[lag]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(p.projection, total=max(total, 1), rate=0.0, lag=total)
            summary = ""

            def progress(done: int, lag: int) -> None:
                bar.advance(task, done)
                speed = bar.tasks[task].speed or 0.0
                bar.update(task, rate=speed, lag=lag)

            try:
                if options["shadow"]:
                    report = shadow.rebuild(
                        p.projection,
                        restart=options["restart"],
                        swap=not options["no_swap"],
                        progress=progress,
                        batch_size=options["batch_size"],
                    )
                    applied = report.applied
                    outcome = "swapped" if report.swapped else "not swapped (--no-swap)"
                    summary = "\n".join(
                        [
                            f"{p.projection}: shadow and live differ in "
                            f"{report.differences} rows/keys; {outcome}",
                            *(f"  {example}" for example in report.examples),
                        ]
                    )
                else:
                    applied = replay.rebuild(
                        p.projection,
                        restart=options["restart"],
                        progress=progress,
                        batch_size=options["batch_size"],
                        jobs=options["jobs"],
                    )
            except KeyboardInterrupt:
                raise CommandError(
                    f"{p.projection}: stopped; run the same command to resume"
                ) from None
        self.stdout.write(f"{p.projection}: rebuilt, {applied} events applied")
        if summary:
            self.stdout.write(summary)
