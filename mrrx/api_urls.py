"""The v1 API, mounted at ``/api/v1/`` and aliased at ``/v1/``."""

from __future__ import annotations

from django.urls import path

from .apis import HealthApi, WorkspaceGetApi

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("workspace", WorkspaceGetApi.as_view(), name="workspace"),
]

from sessions_app.apis import SessionCollectionApi, SessionGetApi  # noqa: E402

urlpatterns += [
    path("sessions", SessionCollectionApi.as_view(), name="sessions"),
    path("sessions/<str:session_id>", SessionGetApi.as_view(), name="session"),
]

from sessions_app.subscription_apis import SubscriptionCancelApi  # noqa: E402

urlpatterns += [
    path(
        "subscriptions/<str:subscription_id>/cancel",
        SubscriptionCancelApi.as_view(),
        name="subscription-cancel",
    ),
]

from sessions_app.results import ResultVerifyApi  # noqa: E402

urlpatterns += [path("results/verify", ResultVerifyApi.as_view(), name="results-verify")]
