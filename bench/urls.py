"""The product's URLs plus the ceilings: bare endpoints behind the same API-key auth, one
that validates a body like the session create's and inserts one row, one that reads one
row by its key; the least any create or read endpoint can cost on this machine."""

from __future__ import annotations

from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.serializers import StrictSerializer
from mrrx.api.views import ApiView
from mrrx.ids import new_id
from mrrx.models import RateLimitCounter


class CeilingInput(StrictSerializer):
    customer_id = serializers.RegexField(r"^cus_\w+$", max_length=255)
    subscription_id = serializers.RegexField(r"^sub_\w+$", max_length=255)


class CeilingCreateApi(ApiView):
    def post(self, request: Request) -> Response:
        payload = CeilingInput(data=request.data)
        payload.is_valid(raise_exception=True)
        row = RateLimitCounter.objects.create(key=new_id("bench"), count=1, window_end=0)
        return Response({"id": row.key}, status=201)


class CeilingGetApi(ApiView):
    def get(self, request: Request, key: str) -> Response:
        row = RateLimitCounter.objects.filter(key=key).first()
        return Response({"id": row.key if row else None, "count": row.count if row else 0})


urlpatterns = [
    path("bench/ceiling", CeilingCreateApi.as_view()),
    path("bench/ceiling/<str:key>", CeilingGetApi.as_view()),
    path("", include("mrrx.urls")),
]
