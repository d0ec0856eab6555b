"""Query filters the modules' list endpoints share, strict like the rest of the API: a value
they do not know is a 400 with a reason, never silently ignored."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, serializers
from rest_framework.request import Request

MAX_SEARCH_WORDS, MAX_SEARCH_WORD = 5, 100


def true_false(**kwargs: Any) -> django_filters.TypedChoiceFilter:
    """`?flag=true|false`; anything else is refused (django-filter's own boolean ignores it)."""
    return django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda v: v == "true", **kwargs
    )


class BoundedSearch(filters.SearchFilter):
    """`?search=`: a few words of reasonable length (each word is one more ILIKE)."""

    def get_search_terms(self, request: Request) -> list[str]:
        terms = super().get_search_terms(request)
        if len(terms) > MAX_SEARCH_WORDS or any(len(t) > MAX_SEARCH_WORD for t in terms):
            raise serializers.ValidationError(
                {"search": [f"at most {MAX_SEARCH_WORDS} words of {MAX_SEARCH_WORD} characters"]}
            )
        return terms


class QueryFilters(DjangoFilterBackend):
    """django-filter's backend, skipped when the query string names none of the view's filters:
    building a FilterSet (a deep copy of every filter, a form to validate) cost a catalog page
    a quarter of its time with nothing to filter. A parameter counts as a filter's when it is
    its name or starts with it and "_" (a range's `price_min`, a date range's `_after`), so a
    page that filters anything still goes through django-filter, errors and all."""

    def filter_queryset(self, request: Any, queryset: QuerySet[Any], view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not any(
            param == name or param.startswith(f"{name}_")
            for param in request.query_params
            for name in filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)
