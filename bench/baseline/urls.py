from django.urls import path

from bench.baseline.views import ProductDetail, ProductList

urlpatterns = [
    path("bench/baseline/products/", ProductList.as_view()),
    path("bench/baseline/products/<str:pk>/", ProductDetail.as_view()),
]
