"""Admin building blocks: read models are shown read-only (they change only through events),
and each aggregate's event history is rendered from the event store."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.shared import bus
from apps.shared.bus import Context
from apps.shared.errors import DomainError
from eventstore.errors import EventStoreError
from eventstore.runtime import get_store

HISTORY_LIMIT = 200


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows of a read model: list, search and look, never add, change or delete. Staff see
    them (roles, not Django's per-model permissions, decide who does what)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def event_history(stream_id: str) -> SafeString:
    envelopes = get_store().read(stream_id)[-HISTORY_LIMIT:]
    if not envelopes:
        return format_html("<em>{}</em>", "no events")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
        (
            (
                e.stream_version,
                e.occurred_at.isoformat(timespec="seconds"),
                e.event_type,
                e.actor or "",
                json.dumps(_plain(e.payload), default=str),
            )
            for e in envelopes
        ),
    )
    return format_html(
        "<table><tr><th>v</th><th>at</th><th>event</th><th>actor</th><th>data</th></tr>{}</table>",
        rows,
    )


def _plain(event: Any) -> dict[str, Any]:
    """The event's fields as read (personal ones decrypted, or erased), not the ciphertext."""
    return dataclasses.asdict(event)  # nested values (an order's lines) as plain fields too


def run_command(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    commands: list[Any],
    done: str,
) -> None:
    """Dispatch a command per selected row, as the admin user; report successes and refusals
    in the admin."""
    ctx = Context(actor=str(request.user.username))
    ok = 0
    for command in commands:
        try:
            bus.dispatch(command, ctx)
            ok += 1
        except (DomainError, EventStoreError) as exc:
            modeladmin.message_user(request, f"{command.stream_id}: {exc}", messages.WARNING)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}", messages.SUCCESS)
