"""The users API: my profile, preferences and watchlist; public cards; the staff directory."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import filters, generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.public import IsAuthenticatedAccount, IsStaff, account_exists
from apps.shared.api import COMMAND_RESULT, InputSerializer, command_response, context, strict
from apps.shared.bus import dispatch
from apps.shared.errors import DomainError
from apps.shared.filters import BoundedSearch, QueryFilters, true_false
from apps.users import commands as c
from apps.users import queries
from apps.users.events import CHANNELS, NOTIFICATION_KINDS
from apps.users.models import DirectoryEntry, ProfileView
from eventstore.consistency import mark, wait_for_request
from eventstore.repository import AggregateNotFound


class ProfilePending(DomainError):
    """The account exists but its profile is still being created (an asynchronous reaction)."""

    code = "profile_pending"
    retry_after = 1


def _command(request: Request, command: c.ProfileCommand) -> Response:
    try:
        result = dispatch(command, context(request))
    except AggregateNotFound:
        if account_exists(request.user.username):
            raise ProfilePending("your profile is being created; try again in a moment") from None
        raise
    return command_response(result)


class ProfileOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.CharField(source="profile_id")

    class Meta:
        model = ProfileView
        fields = (
            "id",
            "display_name",
            "bio",
            "locale",
            "time_zone",
            "avatar_url",
            "kinds",
            "channels",
            "watchlist",
            "version",
            "updated_at",
        )


class ProfileMeApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    read_models = ["users.profiles"]
    etag = True
    errors = (404, 410)  # not created yet or erased; erased

    class Input(InputSerializer):
        display_name = serializers.CharField(max_length=100, allow_blank=True, required=False)
        bio = serializers.CharField(max_length=2000, allow_blank=True, required=False)
        locale = serializers.CharField(max_length=16, required=False)
        time_zone = serializers.CharField(max_length=64, required=False)
        avatar_url = serializers.URLField(max_length=500, allow_blank=True, required=False)

        example = {"display_name": "Ada", "bio": "Counts things.", "time_zone": "Europe/London"}

    @extend_schema(
        responses={200: ProfileOutput},
        summary="My profile (send X-Consistency-Token to see your last write)",
    )
    def get(self, request: Request) -> Response:
        freshness = wait_for_request(request, self.read_models)
        profile = queries.profile(request.user.username)
        if profile is None:
            raise Http404
        response = Response(ProfileOutput(profile).data)
        response["ETag"] = f'"{profile.version}"'
        return mark(response, freshness)

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Update my profile")
    def patch(self, request: Request) -> Response:
        data = strict(self.Input, request)
        return _command(request, c.UpdateProfile(request.user.username, tuple(data.items())))


class PreferencesApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    errors = (410,)

    class Input(InputSerializer):
        kinds = serializers.ListField(
            child=serializers.ChoiceField(choices=NOTIFICATION_KINDS), max_length=10
        )
        channels = serializers.ListField(
            child=serializers.ChoiceField(choices=CHANNELS), max_length=10
        )

        example = {"kinds": ["price_drop"], "channels": ["email", "inbox"]}

    @extend_schema(
        request=Input, responses={200: COMMAND_RESULT}, summary="Set my notification preferences"
    )
    def put(self, request: Request) -> Response:
        data = strict(self.Input, request)
        command = c.SetNotificationPreferences(
            request.user.username, tuple(data["kinds"]), tuple(data["channels"])
        )
        return _command(request, command)


class WatchlistApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    errors = (410,)

    class Input(InputSerializer):
        product_id = serializers.UUIDField()

        example = {"product_id": "0b7e3f4e-8a4f-4c1e-9f57-3f0c2a1d5e6b"}

    @extend_schema(request=Input, responses={200: COMMAND_RESULT}, summary="Watch a product")
    def post(self, request: Request) -> Response:
        data = strict(self.Input, request)
        return _command(request, c.WatchProduct(request.user.username, str(data["product_id"])))


class WatchlistItemApi(APIView):
    permission_classes = [IsAuthenticatedAccount]
    errors = (410,)

    @extend_schema(responses={200: COMMAND_RESULT}, summary="Stop watching a product")
    def delete(self, request: Request, product_id: str) -> Response:
        return _command(request, c.UnwatchProduct(request.user.username, product_id))


class ProfileCardApi(APIView):
    permission_classes = [AllowAny]
    read_models = ["users.cards"]

    @extend_schema(
        responses={
            200: inline_serializer(
                "ProfileCard",
                {
                    "id": serializers.CharField(),
                    "display_name": serializers.CharField(),
                    "avatar_url": serializers.CharField(),
                    "locale": serializers.CharField(),
                },
            )
        },
        summary="A public profile card (from the Redis cache)",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        freshness = wait_for_request(request, self.read_models)
        card = queries.card(profile_id)
        if card is None:
            raise Http404
        return mark(Response({"id": profile_id, **card}), freshness)


class DirectoryFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(
        choices=[(r, r) for r in ("customer", "staff", "admin")], method="with_role"
    )
    locked = true_false()
    registered_after = django_filters.IsoDateTimeFilter(
        field_name="registered_at", lookup_expr="gte"
    )

    class Meta:
        model = DirectoryEntry
        fields = ("role", "locked", "registered_after")

    def with_role(
        self, queryset: QuerySet[DirectoryEntry], name: str, value: str
    ) -> QuerySet[DirectoryEntry]:
        return queryset.filter(roles__contains=[value])


class DirectoryOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.CharField(source="account_id")

    class Meta:
        model = DirectoryEntry
        fields = ("id", "email", "display_name", "roles", "locked", "registered_at")


class UserDirectoryApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Staff only: search by name or email, filter by role and lock, order, page by cursor."""

    permission_classes = [IsStaff]
    serializer_class = DirectoryOutput
    filterset_class = DirectoryFilter
    filter_backends = [
        QueryFilters,
        BoundedSearch,
        filters.OrderingFilter,
    ]
    search_fields = ("email", "display_name")
    ordering_fields = ("registered_at", "display_name", "email")
    ordering = ("-registered_at",)
    read_models = ["users.directory"]

    def get_queryset(self) -> QuerySet[DirectoryEntry]:
        return queries.directory()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        freshness = wait_for_request(request, self.read_models)
        return mark(super().list(request, *args, **kwargs), freshness)
