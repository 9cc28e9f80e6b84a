"""Dashboard pages, mounted under /admin/ before the admin site's own URLs."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from .flow_match import flow_match_view
from .preview import flow_preview_view
from .views import analytics_view, operations_view, workspace_switch_view

staff = admin.site.admin_view

urlpatterns = [
    path("analytics/", staff(analytics_view), name="dashboard_analytics"),
    path("operations/", staff(operations_view), name="dashboard_operations"),
    path("workspace/", staff(workspace_switch_view), name="dashboard_workspace_switch"),
    path("flow-preview/<str:config_id>/", staff(flow_preview_view), name="dashboard_flow_preview"),
    path("flow-match/<str:config_id>/", staff(flow_match_view), name="dashboard_flow_match"),
    # Choosing a password: the link member_add prints, and "Forgotten your password?" on
    # the admin login page (Django's views and the admin's templates).
    path(
        "password_reset/",
        auth_views.PasswordResetView.as_view(),
        name="admin_password_reset",
    ),
    path(
        "password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
