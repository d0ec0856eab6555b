"""The API's docs, served by the app itself (Swagger UI and ReDoc from drf-spectacular-sidecar's
static files: no request leaves the host)."""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI whose token endpoint's answer logs the page in (see the template)."""

    template_name_js = "api/swagger_ui.js"


class RedocView(SpectacularRedocView):
    """ReDoc without the web fonts drf-spectacular's page loads from a public host."""

    template_name = "api/redoc.html"


__all__ = ["RedocView", "SwaggerView"]
