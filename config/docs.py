"""The API's docs, served by the app itself (Swagger UI and ReDoc from drf-spectacular-sidecar's
static files: no request leaves the host)."""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI whose token endpoint's answer logs the page in (see the template)."""

    template_name_js = "api/swagger_ui.js"


__all__ = ["SpectacularRedocView", "SwaggerView"]
