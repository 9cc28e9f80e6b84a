from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.account, name="account"),
    path("cancel", views.cancel, name="cancel"),
    path("return", views.cancel_return, name="return"),
    path("webhooks/mrrx", views.mrrx_webhook, name="mrrx-webhook"),
]
