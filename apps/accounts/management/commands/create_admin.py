"""`manage.py create_admin --email ...`: the first admin, through the commands (register, grant
staff and admin), since the user table is a projection that `createsuperuser` would bypass."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.commands import GrantRole, RegisterAccount
from apps.shared import bus
from apps.shared.bus import Context
from apps.shared.errors import DomainError
from eventstore.errors import UniquenessError


class Command(BaseCommand):
    help = "Register an account with the staff and admin roles (password from --password, "
    help += "$DJANGO_ADMIN_PASSWORD or a prompt)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password")

    def handle(self, *args: Any, email: str, password: str | None, **options: Any) -> None:
        password = password or os.environ.get("DJANGO_ADMIN_PASSWORD") or _prompt()
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError("password refused: " + " ".join(exc.messages)) from None
        ctx = Context(actor="create_admin")
        try:
            result = bus.dispatch(RegisterAccount(email, password), ctx)
            for role in ("staff", "admin"):
                bus.dispatch(GrantRole(result.stream_id, role), ctx)
        except UniquenessError:
            raise CommandError(f"an account with the email {email} exists already") from None
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"admin {email} created (account {result.stream_id})")


def _prompt() -> str:
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password (again): "):
        raise CommandError("the passwords differ")
    return first
