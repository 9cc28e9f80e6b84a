from __future__ import annotations

from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("api/stripe/webhook", views.stripe_webhook, name="stripe-webhook"),
    path(
        "api/stripe/webhook/<str:connection_id>",
        views.stripe_webhook,
        name="stripe-webhook-connection",
    ),
    path(
        "billing/stripe/oauth/callback",
        views.stripe_oauth_callback,
        name="stripe-oauth-callback",
    ),
]
