"""A read endpoint over the test ledger's read model, as a module's read API would be built."""

from __future__ import annotations

from django.db import connection
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from eventstore.consistency import InvalidToken, mark, wait_for_request


class LedgerBalanceApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get(self, request: Request, stream_id: str) -> Response:
        try:
            freshness = wait_for_request(request, ["tests.ledger_balances"])
        except InvalidToken as exc:
            return Response({"detail": str(exc)}, status=400)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT balance::text FROM test_ledger_balance WHERE stream_id = %s", [stream_id]
            )
            row = cur.fetchone()
        if row is None:
            return mark(Response({"detail": "no such ledger"}, status=404), freshness)
        return mark(Response({"stream_id": stream_id, "balance": row[0]}), freshness)


urlpatterns = [path("ledgers/<str:stream_id>/", LedgerBalanceApi.as_view())]
