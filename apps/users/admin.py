"""Profiles and the user directory in the admin: read models, read-only, with history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from apps.shared.admin import ReadOnlyAdmin, event_history
from apps.users.models import DirectoryEntry, ProfileView


@admin.register(ProfileView)
class ProfileAdmin(ReadOnlyAdmin):
    list_display = ("profile_id", "display_name", "locale", "time_zone", "version", "updated_at")
    search_fields = ("display_name", "profile_id")
    readonly_fields = ("history",)

    @admin.display(description="event history")
    def history(self, obj: ProfileView) -> SafeString:
        return event_history(obj.profile_id)


@admin.register(DirectoryEntry)
class DirectoryAdmin(ReadOnlyAdmin):
    list_display = ("email", "display_name", "roles", "locked", "registered_at")
    list_filter = ("locked",)
    search_fields = ("email", "display_name", "account_id")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).filter(erased=False)
