"""The baseline API: DRF generic views over the ORM (retrieve, partial update; a list ordered by
price, paginated as the real lists are), with the same authentication and staff permission as
the real endpoints, and no events."""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework import filters, generics, serializers
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


class ProductList(generics.ListAPIView):  # type: ignore[type-arg]
    """What a catalog page is without CQRS: the rows of the table, ordered, a page of them (the
    project's default pagination: cursors, `page_size`)."""

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filter_backends = [filters.OrderingFilter]
    ordering_fields = ["price", "name"]
    ordering = ["price"]
    permission_classes: list[type[BasePermission]] = []
