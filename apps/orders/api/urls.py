from django.urls import path

from apps.orders.api import views
from apps.shared import api as _converters  # noqa: F401 - registers uuid_str

urlpatterns = [
    path("orders/", views.OrdersApi.as_view(), name="orders"),
    path("orders/all/", views.EveryOrderApi.as_view(), name="orders-all"),
    path("orders/<uuid_str:order_id>/", views.OrderApi.as_view(), name="order"),
    path("orders/<uuid_str:order_id>/cancel/", views.OrderCancelApi.as_view(), name="order-cancel"),
    path("payments/callback/", views.PaymentCallbackApi.as_view(), name="payment-callback"),
]
