from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from config import views
from config.api import ApiRootApi
from config.docs import RedocView, SwaggerView
from config.metrics import metrics

urlpatterns = [
    # Browsers ask every page's host for it; answering keeps the pages' consoles clean.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/console/", include("config.console")),
    path("admin/", admin.site.urls),
    path("api/v1/", ApiRootApi.as_view(), name="api-root"),
    path("api/v1/", include("apps.accounts.api.urls")),
    path("api/v1/", include("apps.users.api.urls")),
    path("api/v1/", include("apps.products.api.urls")),
    path("api/v1/", include("apps.orders.api.urls")),
    path("api/v1/", include("apps.notifications.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

handler400 = "config.views.bad_request"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
