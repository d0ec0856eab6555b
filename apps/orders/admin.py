"""Orders in the admin: read-only, with each order's event history, and a cancel for those not
yet paid."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from apps.orders.commands import CancelOrder
from apps.orders.models import OrderView
from apps.shared.admin import ReadOnlyAdmin, event_history, run_command


@admin.register(OrderView)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "customer_id", "state", "reason", "placed_at", "updated_at")
    list_filter = ("state",)
    search_fields = ("order_id", "customer_id")
    readonly_fields = ("history",)
    actions = ("cancel",)

    @admin.display(description="event history")
    def history(self, obj: OrderView) -> SafeString:
        return event_history(obj.order_id)

    @admin.action(description="Cancel the selected orders (before payment)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[OrderView]) -> None:
        commands = [CancelOrder(o.order_id, "cancelled by staff") for o in queryset]
        run_command(self, request, commands, "cancelled")
