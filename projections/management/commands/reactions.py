"""Reactions: where each stands, and moving one on purpose.

    manage.py reactions status
    manage.py reactions reset NAME --to POSITION|EVENT_ID|end [--dry-run]

A reaction decides (issues commands, creates notifications); a replay never runs it. `reset`
moves it in the store's log: back to decide again on a range (what it decided before is not
created again: ids derive from the triggering event), or ahead to skip deciding on a range (its
facts are still recorded, so later decisions stay right). `--dry-run` says what it would decide
again or skip, and changes nothing. POSITION is a log position (`status` shows them), EVENT_ID
the id of the event to start deciding from, `end` the settled end of the log.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from projections import locks, reactions, registry
from projections.wakeups import reaction_pair


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "reset"])
        parser.add_argument("name", nargs="?", help="the reaction (reset; status: default all)")
        parser.add_argument("--to", help="a log position, an event id, or 'end' (reset)")
        parser.add_argument("--dry-run", action="store_true", help="say what, change nothing")
        parser.add_argument(
            "--lock-timeout", type=float, default=30.0, help="seconds to wait for a runner"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self._status(options["name"])
            return
        if not options["name"]:
            raise CommandError(
                "name the reaction to reset; known: " + ", ".join(sorted(registry.reactions()))
            )
        if options["to"] is None:
            raise CommandError("say where to: --to POSITION, --to EVENT_ID or --to end")
        try:
            reaction = registry.reaction(options["name"])
        except registry.UnknownProjection as exc:
            raise CommandError(str(exc)) from exc
        to = self._position(options["to"])
        settled = reactions.store().settled_position()
        if to > settled:
            raise CommandError(
                f"--to {to} is past the settled end of the log ({settled}): nothing is there "
                "yet; use --to end to skip to it"
            )
        if options["dry_run"]:
            for line in reactions.plan_reset(reaction, to).describe():
                self.stdout.write(line)
            self.stdout.write("dry run: nothing changed")
            return
        pair = reaction_pair(reaction.name)
        try:
            locks.acquire(*pair, timeout=options["lock_timeout"])
        except locks.Busy as exc:
            raise CommandError(f"{exc}; try again") from None
        try:
            plan = reactions.reset(reaction, to)
        finally:
            locks.unlock(*pair)
        for line in plan.describe():
            self.stdout.write(line)
        self.stdout.write("done; the reaction goes on from there when next woken")

    def _position(self, raw: str) -> int:
        if raw == "end":
            return reactions.store().settled_position()
        if raw.isdigit():
            return int(raw)
        try:
            event_id = uuid.UUID(raw)
        except ValueError:
            raise CommandError(
                f"--to must be a log position (a number), an event id or 'end', not {raw!r}"
            ) from None
        position = reactions.position_of_event(event_id)
        if position is None:
            raise CommandError(f"no stored event has the id {event_id}")
        return position

    def _status(self, name: str | None) -> None:
        try:
            chosen = [registry.reaction(name)] if name else list(registry.reactions().values())
        except registry.UnknownProjection as exc:
            raise CommandError(str(exc)) from exc
        rows = reactions.status(chosen)
        if not rows:
            self.stdout.write("no reactions are registered (config/wiring.py registers them)")
            return
        self.stdout.write(
            f"{'reaction':<30} {'position':>10} {'decides from':>12} {'settled':>10} "
            f"{'lag':>8} {'dead':>5}"
        )
        for r in rows:
            self.stdout.write(
                f"{r.reaction:<30} {r.next_position:>10} {r.decide_from:>12} {r.settled:>10} "
                f"{r.lag:>8} {r.dead_letters:>5}"
            )
            if r.last_error:
                self.stdout.write(f"  last error: {r.last_error}")
