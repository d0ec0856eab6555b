"""The products API: the catalog and product pages for everyone, writes for staff."""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import filters, generics, serializers
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.public import IsStaff, is_staff
from apps.products import commands as c
from apps.products import queries
from apps.products.models import CatalogEntry, PriceHistoryEntry
from apps.shared.api import (
    COMMAND_RESULT,
    Amount,
    CommandResultOutput,
    InputSerializer,
    Money,
    command_response,
    context,
    iso_datetime,
    strict,
)
from apps.shared.bus import dispatch
from apps.shared.filters import BoundedSearch, QueryFilters, true_false
from apps.shared.money import CURRENCIES, amount
from eventstore.consistency import mark, wait_for_request


class CatalogOutput(serializers.Serializer):  # type: ignore[type-arg]
    """A product in the catalog."""

    # The fields say what the schema documents; `to_representation` builds the same output
    # straight from the row (the page's hot path: DRF's per-field machinery was about a third
    # of the page's CPU). tests/unit/apps/test_catalog_output.py holds the two equal.

    id = serializers.CharField(source="product_id", max_length=64, read_only=True)
    sku = serializers.CharField(max_length=64, read_only=True)
    name = serializers.CharField(max_length=200, read_only=True)
    description = serializers.CharField(read_only=True)
    price = Amount()
    currency = serializers.CharField(max_length=3, read_only=True)
    stock = serializers.IntegerField(read_only=True)
    published = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    COLUMNS = (
        "product_id",
        "sku",
        "name",
        "description",
        "price",
        "currency",
        "stock",
        "published",
        "created_at",
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        row = instance if isinstance(instance, dict) else vars(instance)
        return {
            "id": row["product_id"],
            "sku": row["sku"],
            "name": row["name"],
            "description": row["description"],
            "price": amount(row["price"], row["currency"]),
            "currency": row["currency"],
            "stock": row["stock"],
            "published": row["published"],
            "created_at": iso_datetime(row["created_at"]),
        }


class CatalogFilter(django_filters.FilterSet):
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")
    currency = django_filters.ChoiceFilter(choices=[(c, c) for c in CURRENCIES])
    in_stock = true_false(method="with_stock")

    class Meta:
        model = CatalogEntry
        fields = ("min_price", "max_price", "currency", "in_stock")

    def with_stock(
        self, queryset: QuerySet[CatalogEntry], name: str, value: bool
    ) -> QuerySet[CatalogEntry]:
        return queryset.filter(stock__gt=0) if value else queryset.filter(stock=0)


class StaffWrites(BasePermission):
    message = "only staff may change products"

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or is_staff(request.user)


class ProductsApi(generics.ListAPIView):  # type: ignore[type-arg]
    """GET: the catalog (published products); POST: create a product (staff)."""

    permission_classes = [StaffWrites]
    serializer_class = CatalogOutput
    filterset_class = CatalogFilter
    filter_backends = [QueryFilters, BoundedSearch, filters.OrderingFilter]
    search_fields = ("name", "description")
    ordering_fields = ("price", "name", "created_at")
    ordering = ("-created_at",)
    read_models = ["products.catalog"]
    conditional = False  # POST creates: a new product has no version to match

    class Input(InputSerializer):
        sku = serializers.CharField(max_length=64)
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(max_length=5000, allow_blank=True, default="")
        price = Money()
        currency = serializers.ChoiceField(choices=list(CURRENCIES))

        example = {
            "sku": "MUG-001",
            "name": "Enamel mug",
            "description": "Holds 350 ml.",
            "price": "12.50",
            "currency": "EUR",
        }

    def get_queryset(self) -> QuerySet[CatalogEntry, dict[str, Any]]:
        rows: QuerySet[CatalogEntry, dict[str, Any]] = queries.catalog().values(
            *CatalogOutput.COLUMNS
        )
        return rows

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        freshness = wait_for_request(request, self.read_models)
        return mark(super().list(request, *args, **kwargs), freshness)

    @extend_schema(request=Input, responses={201: COMMAND_RESULT}, summary="Create a product")
    def post(self, request: Request) -> Response:
        data = strict(self.Input, request)
        result = dispatch(c.CreateProduct(**data), context(request, conditional=False))
        location = reverse("product", args=[result.stream_id])
        return command_response(result, created=True, location=location)


class ProductPageOutput(serializers.Serializer):  # type: ignore[type-arg]
    """For the schema: the page is built from the Redis hash by `queries.product_page`."""

    id = serializers.CharField()
    sku = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = Amount()
    currency = serializers.CharField()
    stock = serializers.IntegerField()
    published = serializers.BooleanField()
    discontinued = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    version = serializers.IntegerField()
    views = serializers.IntegerField(help_text="Page views, this one included.")

    class Meta:
        ref_name = "ProductPage"


class ProductApi(APIView):
    """GET: a product's page, from the Redis cache (counts a view); PATCH: rename, describe."""

    permission_classes = [StaffWrites]
    read_models = ["products.details"]
    etag = True

    class Input(InputSerializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(max_length=5000, allow_blank=True, required=False)

        example = {"name": "Enamel mug, blue", "description": "Holds 350 ml; blue rim."}

    @extend_schema(
        responses={200: ProductPageOutput},
        summary="A product (published ones for everyone, any for staff)",
    )
    def get(self, request: Request, product_id: str) -> Response:
        freshness = wait_for_request(request, self.read_models)
        body = queries.product_page(product_id, staff=is_staff(request.user))
        if body is None:
            raise Http404
        response = Response(body)
        response["ETag"] = f'"{body["version"]}"'
        return mark(response, freshness)

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Rename, describe")
    def patch(self, request: Request, product_id: str) -> Response:
        data = strict(self.Input, request)
        command = c.EditProduct(product_id, data.get("name"), data.get("description"))
        result = dispatch(command, context(request))
        return command_response(result)


class PriceChangeApi(APIView):
    permission_classes = [IsStaff]

    class Input(InputSerializer):
        price = Money()
        currency = serializers.ChoiceField(choices=list(CURRENCIES))

        example = {"price": "9.99", "currency": "EUR"}

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Change the price")
    def post(self, request: Request, product_id: str) -> Response:
        data = strict(self.Input, request)
        result = dispatch(c.ChangePrice(product_id, **data), context(request))
        return command_response(result)


class StockReceiveApi(APIView):
    permission_classes = [IsStaff]

    class Input(InputSerializer):
        quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)

        example = {"quantity": 24}

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Receive stock")
    def post(self, request: Request, product_id: str) -> Response:
        data = strict(self.Input, request)
        result = dispatch(c.ReceiveStock(product_id, **data), context(request))
        return command_response(result)


class ReservationOutput(CommandResultOutput):
    reservation_id = serializers.CharField()

    class Meta:
        ref_name = "Reservation"


class ReservationsApi(APIView):
    permission_classes = [IsStaff]

    class Input(InputSerializer):
        quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
        reservation_id = serializers.UUIDField(required=False)

        example = {"quantity": 2, "reservation_id": "0b7e3f4e-8a4f-4c1e-9f57-3f0c2a1d5e6b"}

    @extend_schema(
        request=Input,
        responses={
            200: ReservationOutput,
        },
        summary="Reserve stock (409 when there is not enough)",
    )
    def post(self, request: Request, product_id: str) -> Response:
        data = strict(self.Input, request)
        reservation_id = str(data.get("reservation_id") or uuid.uuid4())
        command = c.ReserveStock(product_id, reservation_id, data["quantity"])
        result = dispatch(command, context(request))
        response = command_response(result)
        response.data["reservation_id"] = reservation_id
        return response


class ReservationApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses={200: COMMAND_RESULT}, summary="Release a reservation (once)")
    def delete(self, request: Request, product_id: str, reservation_id: str) -> Response:
        result = dispatch(c.ReleaseStock(product_id, reservation_id), context(request))
        return command_response(result)


def _availability(action: c.Availability) -> type[APIView]:
    class AvailabilityApi(APIView):
        permission_classes = [IsStaff]

        @extend_schema(
            request=None, responses={200: COMMAND_RESULT}, summary=f"{action.capitalize()} it"
        )
        def post(self, request: Request, product_id: str) -> Response:
            result = dispatch(c.SetAvailability(product_id, action), context(request))
            return command_response(result)

    AvailabilityApi.__name__ = AvailabilityApi.__qualname__ = f"Product{action.capitalize()}Api"
    return AvailabilityApi


ProductPublishApi = _availability("publish")
ProductUnpublishApi = _availability("unpublish")
ProductDiscontinueApi = _availability("discontinue")


class PriceHistoryOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    old_price = Amount(allow_null=True)
    new_price = Amount()

    class Meta:
        model = PriceHistoryEntry
        fields = ("version", "old_price", "new_price", "currency", "changed_at")


class PriceHistoryApi(generics.ListAPIView):  # type: ignore[type-arg]
    permission_classes = [AllowAny]
    serializer_class = PriceHistoryOutput
    ordering = ("-changed_at",)

    queryset = PriceHistoryEntry.objects.none()  # for the schema; get_queryset filters

    def get_queryset(self) -> QuerySet[PriceHistoryEntry]:
        found = queries.price_history(
            self.kwargs.get("product_id", ""), staff=is_staff(self.request.user)
        )
        if found is None:
            raise Http404
        return found


class LeaderboardApi(APIView):
    """Staff: most watched, most viewed and lowest stock products, and the low-stock set."""

    permission_classes = [IsStaff]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Leaderboard",
                {
                    "board": serializers.CharField(),
                    "entries": serializers.ListField(
                        child=serializers.JSONField(),
                        help_text="`{id, score}` per product, best first; product ids for "
                        "`low-stock`.",
                    ),
                },
            )
        },
        parameters=[OpenApiParameter("board", str, OpenApiParameter.PATH, enum=queries.BOARDS)],
        summary="most-watched | most-viewed | lowest-stock | low-stock",
    )
    def get(self, request: Request, board: str) -> Response:
        entries = queries.leaderboard(board)
        if entries is None:
            raise Http404
        return Response({"board": board, "entries": entries})
