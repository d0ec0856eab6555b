"""Process health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

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
