"""Accounts in the admin: the read model, read-only, with actions that issue commands.

Django's own user admin is removed: the user table is a projection of account events, so a
change made there would be lost on the next event and never reach the log.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from apps.accounts.commands import EraseAccount, GrantRole, LockAccount, RevokeRole, UnlockAccount
from apps.accounts.models import AccountRecord
from apps.shared.admin import ReadOnlyAdmin, event_history, run_command

for model in (get_user_model(), Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def _ids(queryset: QuerySet[AccountRecord]) -> list[str]:
    return [r.account_id for r in queryset]


@admin.register(AccountRecord)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("email", "account_id", "roles", "locked", "erased", "registered_at")
    list_filter = ("locked", "erased")
    search_fields = ("email", "account_id")
    readonly_fields = ("history",)
    fields = (
        "account_id",
        "email",
        "roles",
        "locked",
        "lock_reason",
        "erased",
        "version",
        "registered_at",
        "updated_at",
        "history",
    )
    actions = ("lock", "unlock", "grant_staff", "revoke_staff", "grant_admin", "erase")

    @admin.display(description="event history")
    def history(self, obj: AccountRecord) -> SafeString:
        return event_history(obj.account_id)

    @admin.action(description="Lock the selected accounts")
    def lock(self, request: HttpRequest, queryset: QuerySet[AccountRecord]) -> None:
        run_command(
            self,
            request,
            [LockAccount(i, "locked by staff") for i in _ids(queryset)],
            "locked",
        )

    @admin.action(description="Unlock the selected accounts")
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccountRecord]) -> None:
        run_command(
            self,
            request,
            [UnlockAccount(i) for i in _ids(queryset)],
            "unlocked",
        )

    def _role(
        self, request: HttpRequest, queryset: QuerySet[AccountRecord], role: str, grant: bool
    ) -> None:
        if not request.user.is_superuser:
            self.message_user(request, "only admins grant or revoke roles", level="error")
            return
        command = GrantRole if grant else RevokeRole
        run_command(
            self,
            request,
            [command(i, role) for i in _ids(queryset)],
            f"{'granted' if grant else 'revoked'} {role}",
        )

    @admin.action(description="Grant the staff role")
    def grant_staff(self, request: HttpRequest, queryset: QuerySet[AccountRecord]) -> None:
        self._role(request, queryset, "staff", grant=True)

    @admin.action(description="Revoke the staff role")
    def revoke_staff(self, request: HttpRequest, queryset: QuerySet[AccountRecord]) -> None:
        self._role(request, queryset, "staff", grant=False)

    @admin.action(description="Grant the admin role")
    def grant_admin(self, request: HttpRequest, queryset: QuerySet[AccountRecord]) -> None:
        self._role(request, queryset, "admin", grant=True)

    @admin.action(description="Erase the selected accounts and their personal data")
    def erase(self, request: HttpRequest, queryset: QuerySet[AccountRecord]) -> None:
        if not request.user.is_superuser:
            self.message_user(request, "only admins erase accounts", level="error")
            return
        run_command(
            self,
            request,
            [EraseAccount(i) for i in _ids(queryset)],
            "erased",
        )
