"""The project's URLs plus the baseline API (benchmark runs only)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urls

urlpatterns = [*project_urls, path("", include("bench.baseline.urls"))]
