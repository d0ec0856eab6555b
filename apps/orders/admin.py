"""Orders in the admin, an operator's console of the fulfilment process: every order (filter
`stuck`: in flight and not moved for a while), each with its timeline, pending timers and event
history; actions cancel (before payment), retry the kitchen (a stuck preparation), force-fail
(before payment). Each action is a command with the operator as its actor, so it is an event
of the order's history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from apps.orders import queries
from apps.orders.commands import CancelOrder, FailPayment, RetryFulfilment
from apps.orders.models import OrderView
from apps.shared.admin import ReadOnlyAdmin, event_history, run_command

FORCED = "failed by an operator"


class Stuck(admin.SimpleListFilter):
    title = "stuck (in flight, not moved for)"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("5", "5 minutes"), ("15", "15 minutes"), ("60", "an hour")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[OrderView]) -> QuerySet[OrderView]:
        if self.value() not in ("5", "15", "60"):
            return queryset
        since = timezone.now() - timedelta(minutes=int(self.value() or 0))
        return queryset.filter(state__in=queries.IN_FLIGHT, updated_at__lt=since)


@admin.register(OrderView)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "customer_id", "state", "reason", "placed_at", "updated_at")
    list_filter = (Stuck, "state")
    search_fields = ("order_id", "customer_id")
    readonly_fields = ("timeline", "timers", "history")
    actions = ("cancel", "retry_fulfilment", "force_fail")

    @admin.display(description="timeline")
    def timeline(self, obj: OrderView) -> SafeString:
        steps = queries.timeline(obj.order_id)
        return format_html_join(
            "", "<div>{} &middot; {} {}</div>", ((s.at, s.step, s.detail) for s in steps)
        )

    @admin.display(description="pending timers")
    def timers(self, obj: OrderView) -> SafeString:
        pending = queries.pending_timers(obj.order_id)
        return format_html_join(
            "", "<div>{} at {}</div>", ((t.kind, t.fire_at) for t in pending)
        ) or SafeString("none")

    @admin.display(description="event history")
    def history(self, obj: OrderView) -> SafeString:
        return event_history(obj.order_id)

    @admin.action(description="Cancel the selected orders (before payment)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[OrderView]) -> None:
        commands = [CancelOrder(o.order_id, "cancelled by staff") for o in queryset]
        run_command(self, request, commands, "cancelled")

    @admin.action(description="Retry the kitchen for the selected orders (fulfilling)")
    def retry_fulfilment(self, request: HttpRequest, queryset: QuerySet[OrderView]) -> None:
        run_command(self, request, [RetryFulfilment(o.order_id) for o in queryset], "retried")

    @admin.action(description="Force-fail the selected orders (before payment)")
    def force_fail(self, request: HttpRequest, queryset: QuerySet[OrderView]) -> None:
        commands: list[Any] = []
        for order in queryset:
            if order.state == "payment_pending":
                commands.append(FailPayment(order.order_id, order.payment_id, FORCED))
            elif order.state in ("placed", "stock_reserved"):
                commands.append(CancelOrder(order.order_id, FORCED))
            else:
                self.message_user(
                    request,
                    f"{order.order_id} is {order.state}: only an order not yet paid fails",
                    messages.WARNING,
                )
        if commands:
            run_command(self, request, commands, "failed")
