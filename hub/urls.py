from __future__ import annotations

from django.urls import path

from .views import hub_page, hub_plan, hub_status

urlpatterns = [
    path("h/<str:token>", hub_page, name="hub"),
    path("h/<str:token>/status", hub_status, name="hub-status"),
    path("h/<str:token>/plan/<str:subscription_id>", hub_plan, name="hub-plan"),
]
