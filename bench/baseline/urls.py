from django.urls import path

from bench.baseline.views import ProductDetail

urlpatterns = [path("bench/baseline/products/<str:pk>/", ProductDetail.as_view())]
