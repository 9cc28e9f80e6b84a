"""The product's URLs plus the ceiling: a bare endpoint that authenticates a key and
inserts one row, the least any create endpoint can cost on this machine."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.views import ApiView
from mrrx.ids import new_id
from mrrx.models import RateLimitCounter


class CeilingCreateApi(ApiView):
    def post(self, request: Request) -> Response:
        row = RateLimitCounter.objects.create(key=new_id("bench"), count=1, window_end=0)
        return Response({"id": row.key}, status=201)

    def get(self, request: Request) -> Response:
        row = RateLimitCounter.objects.filter(window_end=0).first()
        return Response({"id": row.key if row else None})


urlpatterns = [
    path("bench/ceiling", CeilingCreateApi.as_view()),
    path("", include("mrrx.urls")),
]
