"""Cursor pagination with clear 400s: a bad cursor or a page size out of range is the client's
error with a reason, never a 404 or a 500."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

MAX_PAGE_SIZE = 100
MAX_CURSOR_OFFSET = 10_000


class Pagination(CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": ["must be a whole number"]}) from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValidationError({"page_size": [f"must be between 1 and {MAX_PAGE_SIZE}"]})
        return size

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        """The view's `ordering` (or its OrderingFilter's), not a fixed "-created"."""
        default = getattr(view, "ordering", None)
        if default:
            self.ordering = default
        return tuple(super().get_ordering(request, queryset, view))

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except DjangoValidationError:
            # A well-formed cursor whose position does not fit the ordering field.
            raise ValidationError({"cursor": ["is not a cursor this API gave out"]}) from None

    def decode_cursor(self, request: Request) -> Cursor | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None and not _well_formed(raw):
            raise ValidationError({"cursor": ["is not a cursor this API gave out"]})
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["is not a cursor this API gave out"]}) from None
        if cursor is not None and cursor.offset > MAX_CURSOR_OFFSET:
            raise ValidationError({"cursor": ["is not a cursor this API gave out"]})
        return cursor


def _well_formed(raw: str) -> bool:
    """What DRF gives out: base64 of a query string of o (offset), r (reverse), p (position)."""
    try:
        decoded = base64.b64decode(raw.encode("ascii"), validate=True).decode("ascii")
    except (ValueError, UnicodeError):
        return False
    keys = set(parse_qs(decoded, keep_blank_values=True))
    return bool(keys) and keys <= {"o", "r", "p"}
