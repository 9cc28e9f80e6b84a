"""The workspace switcher and dashboard links in the admin header."""

from __future__ import annotations

from typing import Any

from django import template

from tenants.roles import page_allows
from tenants.workspace import workspace

register = template.Library()


@register.inclusion_tag("admin/dashboard/_workspace_bar.html", takes_context=True)
def workspace_bar(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated or not user.is_staff:
        return {"show": False}
    current = workspace(request)
    return {
        "show": True,
        "request": request,
        "current": current.tenant,
        "role": current.role,
        "choices": current.choices,
        "analytics": user.is_superuser or page_allows(current.role, "analytics"),
        "operations": user.is_superuser,
        "csrf_token": context.get("csrf_token"),
    }
