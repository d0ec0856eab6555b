"""Tables of the products read models (written only by read_models.py's projections)."""

from __future__ import annotations

from django.db import models


class CatalogEntry(models.Model):
    product_id = models.CharField(primary_key=True, max_length=64)
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)
    stock = models.IntegerField(default=0)
    published = models.BooleanField(default=False)
    discontinued = models.BooleanField(default=False)
    version = models.IntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "products_catalog"
        verbose_name = "catalog entry"
        verbose_name_plural = "catalog"
        indexes = [
            models.Index(fields=["price", "product_id"]),
            models.Index(fields=["name", "product_id"]),
            models.Index(fields=["created_at", "product_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class PriceHistoryEntry(models.Model):
    product_id = models.CharField(max_length=64)
    version = models.IntegerField()
    old_price = models.DecimalField(max_digits=14, decimal_places=4, null=True)
    new_price = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "products_price_history"
        verbose_name_plural = "price history"
        constraints = [
            models.UniqueConstraint(fields=["product_id", "version"], name="price_once_per_version")
        ]
        indexes = [models.Index(fields=["product_id", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.product_id} v{self.version}: {self.new_price} {self.currency}"
