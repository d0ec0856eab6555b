"""The baseline API: DRF generic views over the ORM (retrieve, partial update; a list ordered by
price, paginated as the real lists are), with the staff permission of the real endpoints and no
events. It authenticates as a plain DRF project does, with simplejwt's own JWTAuthentication
(the real endpoints use the project's cheaper one, apps.accounts.auth.TokenAuthentication)."""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework import filters, generics, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework_simplejwt.authentication import JWTAuthentication

from apps.accounts.public import IsStaff
from bench.baseline.models import Product


class ProductSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Product
        fields = ("id", "sku", "name", "description", "price", "currency", "stock", "published")
        read_only_fields = ("id", "sku", "stock", "published")


PLAIN_DRF: list[type[BaseAuthentication]] = [JWTAuthentication]


class ProductDetail(generics.RetrieveUpdateAPIView):  # type: ignore[type-arg]
    authentication_classes = PLAIN_DRF
    queryset = Product.objects.all()
    serializer_class = ProductSerializer

    def get_permissions(self) -> Sequence[BasePermission]:
        if self.request.method in ("GET", "HEAD"):
            return []
        return [IsStaff()]


class ProductList(generics.ListAPIView):  # type: ignore[type-arg]
    """What a catalog page is without CQRS: the rows of the table, ordered, a page of them (the
    project's default pagination: cursors, `page_size`)."""

    authentication_classes = PLAIN_DRF
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filter_backends = [filters.OrderingFilter]
    ordering_fields = ["price", "name"]
    ordering = ["price"]
    permission_classes: list[type[BasePermission]] = []
