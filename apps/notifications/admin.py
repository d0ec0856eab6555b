"""Inboxes in the admin: read-only, with history, and a resend for failed deliveries."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from apps.notifications.commands import Resend
from apps.notifications.models import InboxEntry
from apps.shared.admin import ReadOnlyAdmin, event_history, run_command


@admin.register(InboxEntry)
class InboxAdmin(ReadOnlyAdmin):
    list_display = (
        "subject",
        "recipient_id",
        "kind",
        "status",
        "in_inbox",
        "created_at",
        "read_at",
    )
    list_filter = ("status", "kind", "in_inbox")
    search_fields = ("subject", "recipient_id", "notification_id")
    readonly_fields = ("history",)
    actions = ("resend",)

    @admin.display(description="event history")
    def history(self, obj: InboxEntry) -> SafeString:
        return event_history(obj.notification_id)

    @admin.action(description="Resend the failed ones")
    def resend(self, request: HttpRequest, queryset: QuerySet[InboxEntry]) -> None:
        run_command(self, request, [Resend(r.notification_id) for r in queryset], "resent")
