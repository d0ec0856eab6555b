"""Where each projection stands, per partition: checkpoint, log end, lag, dead letters; and
each reaction, in the store's log."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from projections import registry
from projections.models import DeadLetter
from projections.status import status


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="projections (default: all)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rows = status(options["names"] or None)
        except registry.UnknownProjection as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            self.stdout.write("no projections are registered (config/wiring.py registers them)")
            return
        last_errors = {
            d.projection: d.error
            for d in DeadLetter.objects.filter(status=DeadLetter.Status.PARKED).order_by("id")
        }
        self.stdout.write(
            f"{'projection':<30} {'topic':<32} {'part':>4} {'checkpoint':>10} "
            f"{'log end':>10} {'lag':>8} {'dead':>5}"
        )
        for r in rows:
            self.stdout.write(
                f"{r.projection:<30} {r.topic:<32} {r.partition:>4} "
                f"{r.checkpoint:>10} {r.log_end:>10} {r.lag:>8} {r.dead_letters:>5}"
            )
        for name, error in last_errors.items():
            self.stdout.write(f"last error of {name}: {error}")
        if not options["names"]:
            self.stdout.write("")
            call_command("reactions", "status", stdout=self.stdout)
