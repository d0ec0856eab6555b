"""The orders API: place an order, my orders, an order with its timeline, cancel before
payment; staff see every order, by state and age."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.public import IsAuthenticatedAccount, IsStaff, is_staff
from apps.orders import commands as c
from apps.orders import payments, queries
from apps.orders.aggregates import MAX_LINES, MAX_QUANTITY
from apps.orders.events import STATES
from apps.orders.handlers import place_order
from apps.orders.models import OrderStep, OrderView
from apps.shared.api import (
    COMMAND_RESULT,
    Amount,
    InputSerializer,
    command_response,
    context,
    strict,
)
from apps.shared.bus import dispatch
from apps.shared.filters import QueryFilters
from apps.shared.money import AMOUNT_PATTERN, from_minor
from eventstore.consistency import mark, wait_for_request

READ_MODELS = ["orders.orders", "orders.timeline"]
MAX_IDLE = 60 * 24 * 366  # minutes: a year


class OrderLineOutput(serializers.Serializer):  # type: ignore[type-arg]
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = Amount(minor=True, help_text="The catalog's price when the order was placed.")
    currency = serializers.CharField()


class OrderOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.CharField(source="order_id")
    lines = OrderLineOutput(many=True)
    totals = serializers.SerializerMethodField(help_text="The amount due, by currency.")

    class Meta:
        model = OrderView
        fields: tuple[str, ...] = (
            "id",
            "customer_id",
            "state",
            "reason",
            "lines",
            "totals",
            "version",
            "placed_at",
            "updated_at",
        )

    @extend_schema_field(
        {"type": "object", "additionalProperties": {"type": "string", "pattern": AMOUNT_PATTERN}}
    )
    def get_totals(self, obj: OrderView) -> dict[str, str]:
        return {currency: from_minor(units, currency) for currency, units in obj.totals.items()}


class StepOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = OrderStep
        fields = ("version", "step", "detail", "at")


class OrderPageOutput(OrderOutput):
    timeline = serializers.SerializerMethodField()

    class Meta(OrderOutput.Meta):
        fields = (*OrderOutput.Meta.fields, "timeline")

    def get_timeline(self, obj: OrderView) -> list[dict[str, Any]]:
        return list(StepOutput(queries.timeline(obj.order_id), many=True).data)


class LineInput(serializers.Serializer):  # type: ignore[type-arg]
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class OrdersApi(generics.ListAPIView):  # type: ignore[type-arg]
    """GET: my orders, newest first; POST: place an order (priced from the catalog)."""

    permission_classes = [IsAuthenticatedAccount]
    serializer_class = OrderOutput
    ordering = ("-placed_at",)
    read_models = READ_MODELS
    conditional = False  # a new order has no version to match

    class Input(InputSerializer):
        lines = serializers.ListField(child=LineInput(), min_length=1, max_length=MAX_LINES)

        example = {"lines": [{"product_id": "0b7e3f4e-8a4f-4c1e-9f57-3f0c2a1d5e6b", "quantity": 2}]}

    def get_queryset(self) -> QuerySet[OrderView]:
        return queries.orders_of(self.request.user.username)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        freshness = wait_for_request(request, self.read_models)
        return mark(super().list(request, *args, **kwargs), freshness)

    @extend_schema(request=Input, responses={201: COMMAND_RESULT}, summary="Place an order")
    def post(self, request: Request) -> Response:
        data = strict(self.Input, request)
        wanted = [(str(line["product_id"]), line["quantity"]) for line in data["lines"]]
        result = place_order(request.user.username, wanted, context(request, conditional=False))
        location = reverse("order", args=[result.stream_id])
        return command_response(result, created=True, location=location)


class StaffOrderFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=[(s, s) for s in STATES])
    idle_minutes = django_filters.NumberFilter(method="idle_for", min_value=0, max_value=MAX_IDLE)

    class Meta:
        model = OrderView
        fields = ("state", "idle_minutes")

    def idle_for(
        self, queryset: QuerySet[OrderView], name: str, value: float
    ) -> QuerySet[OrderView]:
        return queries.older_than(queryset, timezone.now() - timedelta(minutes=float(value)))


class EveryOrderApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Staff: every order, oldest change first (`?state=`, `?idle_minutes=`: not moved since)."""

    permission_classes = [IsStaff]
    serializer_class = OrderOutput
    filterset_class = StaffOrderFilter
    filter_backends = [QueryFilters]
    ordering = ("updated_at",)

    def get_queryset(self) -> QuerySet[OrderView]:
        return queries.every_order()


def _visible(request: Request, order_id: str) -> OrderView:
    found = queries.order(order_id)
    if found is None or (found.customer_id != request.user.username and not is_staff(request.user)):
        raise Http404
    return found


class OrderApi(APIView):
    """GET: an order with its timeline (its customer, or staff)."""

    permission_classes = [IsAuthenticatedAccount]
    read_models = READ_MODELS
    etag = True

    @extend_schema(responses={200: OrderPageOutput}, summary="An order and its timeline")
    def get(self, request: Request, order_id: str) -> Response:
        freshness = wait_for_request(request, self.read_models)
        found = _visible(request, order_id)
        response = Response(OrderPageOutput(found).data)
        response["ETag"] = f'"{found.version}"'
        return mark(response, freshness)


class OrderCancelApi(APIView):
    """POST: cancel an order before it is paid (its customer, or staff)."""

    permission_classes = [IsAuthenticatedAccount]

    class Input(InputSerializer):
        reason = serializers.CharField(max_length=500, required=False, default="")

        example = {"reason": "ordered twice by mistake"}

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Cancel an order")
    def post(self, request: Request, order_id: str) -> Response:
        data = strict(self.Input, request)
        # Staff cancel any order; a customer only theirs (the handler checks it on the order).
        customer = None if is_staff(request.user) else request.user.username
        reason = data["reason"] or ("cancelled by staff" if customer is None else "cancelled")
        command = c.CancelOrder(order_id, reason, customer)
        return command_response(dispatch(command, context(request)))


class PaymentCallbackApi(APIView):
    """The payment provider's answer (signed: see apps/orders/payments.py)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    command_context = False  # the provider's callback, not a client's command
    errors = (401,)  # a bad signature

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={200: COMMAND_RESULT},
        parameters=[
            OpenApiParameter(
                "X-Signature",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="`sha256=<hex>`: HMAC-SHA256 of the body with the shared secret.",
            )
        ],
        summary="A payment provider's callback (HMAC-signed in X-Signature)",
    )
    def post(self, request: Request) -> Response:
        signature = request.headers.get("X-Signature", "")
        return command_response(payments.receive_callback(request.body, signature))
