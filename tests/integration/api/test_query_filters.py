"""apps.shared.filters.QueryFilters: django-filter's backend, skipped when the query string
names none of the view's filters, and otherwise django-filter's, errors and all."""

from __future__ import annotations

from typing import Any

import django_filters
import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.products.models import CatalogEntry
from apps.shared.filters import QueryFilters

pytestmark = pytest.mark.django_db


class Ranged(django_filters.FilterSet):
    price = django_filters.RangeFilter()  # ?price_min= and ?price_max=
    currency = django_filters.CharFilter()

    class Meta:
        model = CatalogEntry
        fields = ("price", "currency")


class View:
    filterset_class = Ranged


def filtered(query: str) -> Any:
    request = Request(APIRequestFactory().get(f"/catalog/{query}"))
    return QueryFilters().filter_queryset(request, CatalogEntry.objects.all(), View())


def test_a_query_naming_no_filter_never_builds_the_filterset(monkeypatch: Any) -> None:
    built = []
    original = Ranged.__init__

    def counting(self: Ranged, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Ranged, "__init__", counting)
    for query in ("", "?ordering=price&page_size=5", "?search=lamp", "?pricey=1"):
        assert str(filtered(query).query) == str(CatalogEntry.objects.all().query), query
    assert built == []
    filtered("?currency=EUR")
    assert built == [1]


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("?currency=EUR", '"currency" = EUR'),
        ("?price_min=5", '"price" >= 5'),
        ("?price_max=9&page_size=3", '"price" <= 9'),
    ],
)
def test_a_filter_named_or_suffixed_goes_through_django_filter(query: str, where: str) -> None:
    assert where in str(filtered(query).query)


def test_a_bad_value_is_refused_as_before() -> None:
    with pytest.raises(ValidationError):
        filtered("?price_min=cheap")
