"""List, redrive (retry) or skip the events projections could not apply.

manage.py dead_letters list [--projection NAME]
manage.py dead_letters redrive [--projection NAME] [--stream STREAM_ID]
manage.py dead_letters retry ID        (redrive the stream of that dead letter)
manage.py dead_letters skip ID
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from projections import dead_letters, registry
from projections.models import DeadLetter


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "redrive", "retry", "skip"])
        parser.add_argument("id", nargs="?", type=int, help="dead letter id (retry, skip)")
        parser.add_argument("--projection")
        parser.add_argument("--stream")

    def handle(self, *args: Any, **options: Any) -> None:
        action, projection = options["action"], options["projection"]
        try:
            if projection and projection not in registry.reactions():
                registry.get(projection)
            if action == "list":
                self._list(projection)
            elif action == "skip":
                skipped = dead_letters.skip(self._id(options))
                self.stdout.write(f"skipped {skipped.pk}: {skipped}")
            elif action == "retry":
                letter = DeadLetter.objects.filter(pk=self._id(options)).first()
                if letter is None:
                    raise CommandError(f"no dead letter {options['id']}")
                self._report(
                    {
                        (letter.projection, letter.stream_id): dead_letters.redrive(
                            letter.projection, letter.stream_id
                        )
                    }
                )
            elif options["stream"]:
                if not projection:
                    raise CommandError("--stream needs --projection")
                self._report(
                    {
                        (projection, options["stream"]): dead_letters.redrive(
                            projection, options["stream"]
                        )
                    }
                )
            else:
                self._report(dead_letters.redrive_all(projection))
        except (registry.UnknownProjection, dead_letters.DeadLetterError) as exc:
            raise CommandError(str(exc)) from exc

    def _id(self, options: dict[str, Any]) -> int:
        if options["id"] is None:
            raise CommandError(f"{options['action']} needs a dead letter id")
        return int(options["id"])

    def _list(self, projection: str | None) -> None:
        rows = dead_letters.active(projection)
        if not rows:
            self.stdout.write("no dead letters")
            return
        self.stdout.write(
            f"{'id':>6}  {'status':<8} {'projection':<28} {'stream':<40} {'ver':>5}  error"
        )
        for d in rows:
            self.stdout.write(
                f"{d.pk:>6}  {d.status:<8} {d.projection:<28} {d.stream_id:<40} "
                f"{d.stream_version:>5}  {d.error[:80]}"
            )

    def _report(self, results: dict[tuple[str, str], dead_letters.Redrive]) -> None:
        if not results:
            self.stdout.write("nothing to redrive")
        for (projection, stream), result in results.items():
            line = f"{projection} {stream}: {result.resolved} applied"
            if result.still_parked is not None:
                line += f"; still failing at v{result.still_parked.stream_version}"
            self.stdout.write(line)
