from __future__ import annotations

from django.urls import path

from .views import hosted_flow, hosted_flow_status

urlpatterns = [
    path("c/<str:token>", hosted_flow, name="flow"),
    path("c/<str:token>/status", hosted_flow_status, name="flow-status"),
]
