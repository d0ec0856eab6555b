"""`manage.py orders stuck [--minutes N]`: the orders in flight that have not moved for N
minutes (default 15), the longest waiting first, each with its pending timers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.orders import queries


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        stuck = sub.add_parser("stuck", help="orders in flight that have not moved for a while")
        stuck.add_argument("--minutes", type=float, default=15.0)

    def handle(self, *args: Any, action: str, minutes: float = 15.0, **options: Any) -> None:
        if not 0 <= minutes <= 60 * 24 * 366:
            raise CommandError("--minutes must be between 0 and a year (527040)")
        now = timezone.now()
        found = list(queries.stuck(minutes, now))
        health = queries.health(now)
        self.stdout.write(
            f"{len(found)} stuck for {minutes:g} min or more; {health.in_flight} in flight, "
            f"the oldest waiting {health.oldest_in_flight_seconds:.0f} s; "
            f"{health.timers_pending} timers pending"
        )
        for order in found:
            waited = (now - order.updated_at).total_seconds() / 60
            timers = ", ".join(
                f"{t.kind} at {t.fire_at:%Y-%m-%d %H:%M:%S}"
                for t in queries.pending_timers(order.order_id)
            )
            self.stdout.write(
                f"{order.order_id}  {order.state:<15} {waited:8.1f} min  "
                f"customer {order.customer_id}  timers: {timers or 'none'}"
            )
