"""The API root: `/api/v1/` lists where the API's parts are. Modules add their routes here."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

LINKS = ("schema", "docs", "redoc", "health", "ready")


class ApiRootApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        summary="Links to the API's schema, docs and health endpoints",
        responses={
            200: inline_serializer(
                "ApiRoot",
                {
                    name: serializers.URLField()
                    for name in ("schema", "docs", "redoc", "health", "ready")
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "schema": request.build_absolute_uri(reverse("api-schema")),
                "docs": request.build_absolute_uri(reverse("api-docs")),
                "redoc": request.build_absolute_uri(reverse("api-redoc")),
                "health": request.build_absolute_uri(reverse("healthz")),
                "ready": request.build_absolute_uri(reverse("readyz")),
            }
        )
