from django.urls import path

from apps.products.api import views
from apps.shared import api as _converters  # noqa: F401 - registers uuid_str

P = "products/<uuid_str:product_id>/"

urlpatterns = [
    path("products/", views.ProductsApi.as_view(), name="products"),
    path(
        "products/leaderboards/<str:board>/",
        views.LeaderboardApi.as_view(),
        name="product-leaderboard",
    ),
    path(P, views.ProductApi.as_view(), name="product"),
    path(P + "price/", views.PriceChangeApi.as_view(), name="product-price"),
    path(P + "prices/", views.PriceHistoryApi.as_view(), name="product-prices"),
    path(P + "stock/", views.StockReceiveApi.as_view(), name="product-stock"),
    path(P + "reservations/", views.ReservationsApi.as_view(), name="product-reserve"),
    path(
        P + "reservations/<uuid_str:reservation_id>/",
        views.ReservationApi.as_view(),
        name="product-release",
    ),
    path(P + "publish/", views.ProductPublishApi.as_view(), name="product-publish"),
    path(P + "unpublish/", views.ProductUnpublishApi.as_view(), name="product-unpublish"),
    path(P + "discontinue/", views.ProductDiscontinueApi.as_view(), name="product-discontinue"),
]
