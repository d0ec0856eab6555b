"""The catalog in the admin: read-only rows, history, and actions that issue commands (the
action bar takes an amount or a quantity for the price and stock actions)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from apps.products.commands import Availability, ChangePrice, ReceiveStock, SetAvailability
from apps.products.models import CatalogEntry, PriceHistoryEntry
from apps.shared.admin import ReadOnlyAdmin, event_history, run_command


class ProductActionForm(ActionForm):
    value = forms.CharField(required=False, label="amount / quantity")


@admin.register(CatalogEntry)
class CatalogAdmin(ReadOnlyAdmin):
    list_display = ("sku", "name", "price", "currency", "stock", "published", "discontinued")
    list_filter = ("published", "discontinued", "currency")
    search_fields = ("sku", "name", "product_id")
    readonly_fields = ("history",)
    action_form = ProductActionForm
    actions = ("change_price", "receive_stock", "publish", "unpublish", "discontinue")

    @admin.display(description="event history")
    def history(self, obj: CatalogEntry) -> SafeString:
        return event_history(obj.product_id)

    def _value(self, request: HttpRequest) -> str:
        return str(request.POST.get("value", "")).strip()

    @admin.action(description="Change the price to the amount given")
    def change_price(self, request: HttpRequest, queryset: QuerySet[CatalogEntry]) -> None:
        try:
            price = Decimal(self._value(request))
        except InvalidOperation:
            self.message_user(request, "give the new price as a number", messages.ERROR)
            return
        run_command(
            self,
            request,
            [ChangePrice(r.product_id, price, r.currency) for r in queryset],
            "price changed",
        )

    @admin.action(description="Receive the quantity given")
    def receive_stock(self, request: HttpRequest, queryset: QuerySet[CatalogEntry]) -> None:
        raw = self._value(request)
        if not raw.isdigit():
            self.message_user(request, "give the quantity as a whole number", messages.ERROR)
            return
        run_command(
            self,
            request,
            [ReceiveStock(r.product_id, int(raw)) for r in queryset],
            "stock received",
        )

    def _availability(
        self, request: HttpRequest, queryset: QuerySet[CatalogEntry], action: Availability
    ) -> None:
        run_command(
            self,
            request,
            [SetAvailability(r.product_id, action) for r in queryset],
            f"{action}ed".replace("ee", "e"),
        )

    @admin.action(description="Publish")
    def publish(self, request: HttpRequest, queryset: QuerySet[CatalogEntry]) -> None:
        self._availability(request, queryset, "publish")

    @admin.action(description="Unpublish")
    def unpublish(self, request: HttpRequest, queryset: QuerySet[CatalogEntry]) -> None:
        self._availability(request, queryset, "unpublish")

    @admin.action(description="Discontinue (no more changes)")
    def discontinue(self, request: HttpRequest, queryset: QuerySet[CatalogEntry]) -> None:
        self._availability(request, queryset, "discontinue")


@admin.register(PriceHistoryEntry)
class PriceHistoryAdmin(ReadOnlyAdmin):
    list_display = ("product_id", "version", "old_price", "new_price", "currency", "changed_at")
    search_fields = ("product_id",)
