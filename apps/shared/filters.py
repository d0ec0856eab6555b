"""Query filters the modules' list endpoints share, strict like the rest of the API: a value
they do not know is a 400 with a reason, never silently ignored."""

from __future__ import annotations

from typing import Any

import django_filters
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
