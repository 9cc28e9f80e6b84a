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

from sessions_app.custom_session_apis import (  # noqa: E402
    CustomSessionCollectionApi,
    CustomSessionGetApi,
)

urlpatterns += [
    path("custom_sessions", CustomSessionCollectionApi.as_view(), name="custom-sessions"),
    path(
        "custom_sessions/<str:custom_session_id>",
        CustomSessionGetApi.as_view(),
        name="custom-session",
    ),
]

from sessions_app.flow_apis import FlowExecuteApi, FlowGetApi, FlowSurveyApi  # noqa: E402

urlpatterns += [
    path("flow", FlowGetApi.as_view(), name="flow"),
    path("flow/survey", FlowSurveyApi.as_view(), name="flow-survey"),
    path("flow/execute", FlowExecuteApi.as_view(), name="flow-execute"),
]

from sessions_app.results import ResultVerifyApi  # noqa: E402

urlpatterns += [path("results/verify", ResultVerifyApi.as_view(), name="results-verify")]

from hub.apis import HubSessionCreateApi, HubSessionGetApi  # noqa: E402

urlpatterns += [
    path("hub_sessions", HubSessionCreateApi.as_view(), name="hub-sessions"),
    path("hub_sessions/<str:hub_session_id>", HubSessionGetApi.as_view(), name="hub-session"),
]

from privacy.apis import CustomerEraseApi, CustomerExportApi  # noqa: E402

urlpatterns += [
    path("customers/<str:customer_id>/export", CustomerExportApi.as_view(), name="customer-export"),
    path("customers/<str:customer_id>/erase", CustomerEraseApi.as_view(), name="customer-erase"),
]

from dashboard.apis import AnalyticsGetApi  # noqa: E402

urlpatterns += [path("analytics", AnalyticsGetApi.as_view(), name="analytics")]
