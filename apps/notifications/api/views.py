"""The notifications API: my inbox, my unread count, mark one or all as read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.public import IsAuthenticatedAccount
from apps.notifications import queries
from apps.notifications.aggregates import KINDS
from apps.notifications.commands import MarkRead
from apps.notifications.handlers import mark_all_read
from apps.notifications.models import InboxEntry
from apps.shared.api import COMMAND_RESULT, command_response, context
from apps.shared.bus import dispatch
from apps.shared.filters import QueryFilters, true_false
from eventstore.consistency import TOKEN_HEADER, mark, wait_for_request

# A token from a write waits for these: a watch or a price change has reached the notifier
# reaction (the watch is one of its facts; the price drop's notifications exist), the inbox
# and counters are up to date. A reaction's own notification is one hop further: it reaches the
# inbox a moment later.
READ_MODELS = [
    "notifications.reactions",
    "notifications.inbox",
    "notifications.unread",
]


class InboxOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.CharField(source="notification_id")
    read = serializers.SerializerMethodField()

    class Meta:
        model = InboxEntry
        fields = ("id", "kind", "subject", "body", "status", "created_at", "read", "read_at")

    def get_read(self, obj: InboxEntry) -> bool:
        return obj.read_at is not None


class InboxFilter(django_filters.FilterSet):
    unread = true_false(method="only_unread")
    kind = django_filters.ChoiceFilter(choices=[(k, k) for k in KINDS])

    class Meta:
        model = InboxEntry
        fields = ("unread", "kind")

    def only_unread(
        self, queryset: QuerySet[InboxEntry], name: str, value: bool
    ) -> QuerySet[InboxEntry]:
        return queryset.filter(read_at__isnull=value)


class InboxApi(generics.ListAPIView):  # type: ignore[type-arg]
    """My notifications, newest first (`?unread=true`, `?kind=`); send the consistency token
    of a write to see its effects."""

    permission_classes = [IsAuthenticatedAccount]
    serializer_class = InboxOutput
    filterset_class = InboxFilter
    filter_backends = [QueryFilters]
    ordering = ("-created_at",)
    read_models = READ_MODELS

    def get_queryset(self) -> QuerySet[InboxEntry]:
        return queries.inbox(self.request.user.username)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        freshness = wait_for_request(request, self.read_models)
        return mark(super().list(request, *args, **kwargs), freshness)


class UnreadCountApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    read_models = ["notifications.unread"]

    @extend_schema(
        responses={200: inline_serializer("UnreadCount", {"unread": serializers.IntegerField()})},
        summary="How many of my notifications are unread (from Redis)",
    )
    def get(self, request: Request) -> Response:
        freshness = wait_for_request(request, self.read_models)
        unread = queries.unread_count(request.user.username)
        return mark(Response({"unread": unread}), freshness)


class NotificationReadApi(APIView):
    permission_classes = [IsAuthenticatedAccount]

    @extend_schema(
        request=None,
        responses={
            200: COMMAND_RESULT,
        },
        summary="Mark one of my notifications read",
    )
    def post(self, request: Request, notification_id: str) -> Response:
        command = MarkRead(notification_id, request.user.username)
        result = dispatch(command, context(request))
        return command_response(result)


class NotificationReadAllApi(APIView):
    permission_classes = [IsAuthenticatedAccount]

    @extend_schema(
        request=None,
        responses={200: inline_serializer("ReadAll", {"marked": serializers.IntegerField()})},
        parameters=[
            OpenApiParameter(
                "X-Correlation-ID", OpenApiTypes.UUID, OpenApiParameter.HEADER, required=False
            ),
            OpenApiParameter(
                TOKEN_HEADER,
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description="The last read's token, when one was marked.",
            ),
        ],
        summary="Mark all my notifications read",
    )
    def post(self, request: Request) -> Response:
        # Many commands: one Idempotency-Key cannot stand for them all (marking read is
        # idempotent anyway), so the batch takes none.
        ctx = replace(context(request, conditional=False), idempotency_key=None)
        results = mark_all_read(request.user.username, ctx)
        response = Response({"marked": len(results)})
        if results:
            # Each read is its own write; the last one's token covers the read models' order
            # only per notification, so clients wanting all should wait on each.
            response[TOKEN_HEADER] = results[-1].token
        return response
