"""Process health endpoints for load balancers and orchestrators, and the error pages of
what no view answers."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from apps.shared.api import error_body
from config.health import ADDRESSES, check_all


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving; touches no server."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when Postgres, Redis, RabbitMQ and Kafka all answer; 503 naming those that do not."""
    results = check_all()
    down = sorted(name for name, reason in results.items() if reason)
    body = {
        "status": "ready" if not down else "unavailable",
        "down": down,
        "checks": {
            name: {
                "address": ADDRESSES[name](),
                "status": "up" if not reason else "down",
                **({"reason": reason} if reason else {}),
            }
            for name, reason in results.items()
        },
    }
    return JsonResponse(body, status=200 if not down else 503)


# Django's own error pages, for what never reaches a DRF view (a path no route matches, a
# crash in middleware): the API's callers get the API's error envelope, the admin its pages.
def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _api(request):
        return JsonResponse(error_body(404, "not_found", "no such resource"), status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _api(request):
        return JsonResponse(error_body(400, "bad_request", "the request is malformed"), status=400)
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def server_error(request: HttpRequest) -> HttpResponse:
    if _api(request):
        body = error_body(500, "server_error", "the server failed; the request may be retried")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
