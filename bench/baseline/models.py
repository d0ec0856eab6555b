"""What a team would build without CQRS: one table, updated in place by the ORM."""

from __future__ import annotations

from django.db import models


class Product(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    stock = models.IntegerField(default=0)
    published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Spelled out: the type checker's settings do not install this benchmark-only app.
    objects: models.Manager[Product] = models.Manager()

    class Meta:
        db_table = "bench_baseline_product"

    def __str__(self) -> str:
        return self.sku
