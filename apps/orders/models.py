"""Tables of the orders read models (written only by read_models.py's projections)."""

from __future__ import annotations

from django.db import models


class OrderView(models.Model):
    """An order as its customer and staff see it."""

    order_id = models.CharField(primary_key=True, max_length=64)
    customer_id = models.CharField(max_length=64)
    state = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    lines = models.JSONField()  # [{product_id, quantity, unit_price, currency}]
    totals = models.JSONField()  # {currency: amount in minor units}
    payment_id = models.CharField(max_length=64, blank=True)
    version = models.IntegerField()
    placed_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "orders_order"
        verbose_name = "order"
        indexes = [
            models.Index(fields=["customer_id", "placed_at"]),
            models.Index(fields=["state", "updated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.state})"


class OrderStep(models.Model):
    """One step of an order's timeline: what happened, when, and the detail."""

    order_id = models.CharField(max_length=64)
    version = models.IntegerField()
    step = models.CharField(max_length=40)
    detail = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        db_table = "orders_step"
        constraints = [
            models.UniqueConstraint(fields=["order_id", "version"], name="order_step_once")
        ]

    def __str__(self) -> str:
        return f"{self.order_id} v{self.version}: {self.step}"


class OrderTimer(models.Model):
    """A durable timer of an order's process (`timers.py`): written in the step's transaction,
    fired by `orders.fire_timers` once due, cancelled when the process moves on."""

    class Status(models.TextChoices):
        PENDING = "pending"
        FIRED = "fired"
        CANCELLED = "cancelled"
        IGNORED = "ignored"  # due, but the order had moved on

    order_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=40)  # payment_timeout | reservation_expiry
    payment_id = models.CharField(max_length=64, blank=True)
    fire_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "orders_timer"
        constraints = [
            models.UniqueConstraint(fields=["order_id", "kind"], name="order_timer_once")
        ]
        indexes = [models.Index(fields=["status", "fire_at"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} at {self.fire_at:%H:%M:%S} ({self.status})"
