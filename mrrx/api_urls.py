"""The v1 API, mounted at ``/api/v1/`` and aliased at ``/v1/``."""

from __future__ import annotations

from django.urls import path

from .apis import HealthApi, WorkspaceGetApi

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("workspace", WorkspaceGetApi.as_view(), name="workspace"),
]
