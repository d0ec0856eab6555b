"""Operators' view of the projection engine: status with rebuild, dead letters with retry/skip,
checkpoints. Everything here calls the same services as the management commands."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from projections import dead_letters, reactions, registry
from projections.models import Checkpoint, DeadLetter


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "status",
        "projection",
        "stream_id",
        "stream_version",
        "event_type",
        "error",
        "attempts",
        "created_at",
    )
    list_filter = ("status", "projection")
    search_fields = ("stream_id", "event_type", "error")
    readonly_fields = [f.name for f in DeadLetter._meta.fields]
    actions = ["retry_streams", "skip_parked"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Retry: redrive the streams of the selected dead letters")
    def retry_streams(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        for projection, stream in sorted({(d.projection, d.stream_id) for d in queryset}):
            try:
                result = dead_letters.redrive(projection, stream)
            except (dead_letters.DeadLetterError, registry.UnknownProjection) as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            if result.still_parked is not None:
                self.message_user(
                    request,
                    f"{stream}: {result.resolved} applied, still failing"
                    f" at v{result.still_parked.stream_version}",
                    messages.WARNING,
                )
            else:
                self.message_user(request, f"{stream}: {result.resolved} applied")

    @admin.action(description="Skip the selected parked events (never apply them)")
    def skip_parked(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        for letter in queryset:
            try:
                dead_letters.skip(letter.pk)
                self.message_user(request, f"skipped {letter}")
            except dead_letters.DeadLetterError as exc:
                self.message_user(request, str(exc), messages.ERROR)


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("projection", "topic", "partition", "next_offset", "updated_at")
    list_filter = ("projection",)
    readonly_fields = ("projection", "topic", "partition", "next_offset", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        status_view = self.admin_site.admin_view(self.status_view)
        return [path("status/", status_view, name="projections_status"), *super().get_urls()]

    def status_view(self, request: HttpRequest) -> HttpResponse:
        from projections.status import status
        from projections.tasks import rebuild

        if request.method == "POST":
            if not request.user.has_perm("projections.change_checkpoint") and not (
                getattr(request.user, "is_superuser", False)
            ):
                messages.error(request, "only administrators may rebuild projections")
            else:
                name = request.POST.get("rebuild", "")
                try:
                    registry.get(name)
                    rebuild.delay(name)
                    messages.success(request, f"rebuild of {name} queued")
                except registry.UnknownProjection as exc:
                    messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:projections_status"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Projection status",
            "rows": status(),
            "reactions": reactions.status(list(registry.reactions().values())),
            "projections": sorted(registry.projections()),
        }
        return TemplateResponse(request, "admin/projections/status.html", context)
