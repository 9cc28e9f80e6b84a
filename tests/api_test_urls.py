"""Endpoints that exist only in tests, to exercise the shared API machinery on its own.

Each does something real and observable (issue an API key row, list rows) so that tests
can count effects, not calls.
"""

from __future__ import annotations

import time

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response

from mrrx.api.pagination import cursor_paginate
from mrrx.api.views import ApiView
from tenants.models import ApiKey
from tenants.services import apikey_issue


class ThingCreateApi(ApiView):
    required_scopes = ("sessions:write",)
    rate_limit_scope = "sessions.create"

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=40)
        sleep_ms = serializers.IntegerField(required=False, min_value=0, max_value=2000)

    def post(self, request):  # type: ignore[no-untyped-def]
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        time.sleep(data.validated_data.get("sleep_ms", 0) / 1000)
        key, _ = apikey_issue(
            tenant=request.tenant, livemode=request.livemode, name=data.validated_data["name"]
        )
        return Response({"id": key.pk, "name": key.name}, status=201)


class ThingListApi(ApiView):
    required_scopes = ("sessions:read",)
    rate_limit_scope = "sessions.read"

    def get(self, request):  # type: ignore[no-untyped-def]
        queryset = ApiKey.objects.filter(tenant=request.tenant, livemode=request.livemode)
        rows, pagination = cursor_paginate(request=request, queryset=queryset, prefix="key")
        return Response({"data": [{"id": r.pk} for r in rows], "pagination": pagination})


class ExplodeApi(ApiView):
    def get(self, request):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internal detail /srv/mrrx/db.py line 42")


urlpatterns = [
    path("api/v1/things", ThingCreateApi.as_view()),
    path("api/v1/things/list", ThingListApi.as_view()),
    path("api/v1/explode", ExplodeApi.as_view()),
    path("", include("mrrx.urls")),
]
