"""The baseline API: a DRF generic view over the ORM (retrieve, partial update), with the same
authentication and staff permission as the real endpoints, and no events."""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission

from apps.accounts.public import IsStaff
from bench.baseline.models import Product


class ProductSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Product
        fields = ("id", "sku", "name", "description", "price", "currency", "stock", "published")
        read_only_fields = ("id", "sku", "stock", "published")


class ProductDetail(generics.RetrieveUpdateAPIView):  # type: ignore[type-arg]
    queryset = Product.objects.all()
    serializer_class = ProductSerializer

    def get_permissions(self) -> Sequence[BasePermission]:
        if self.request.method in ("GET", "HEAD"):
            return []
        return [IsStaff()]
