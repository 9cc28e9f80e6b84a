"""The workspace a signed-in admin user is working in, kept in the Django session.

A merchant may belong to several workspaces and works in one at a time: every admin page
is scoped to it. Operators (superusers) see everything; for them the current workspace
only picks which workspace the per-workspace pages (analytics, preview) show.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from .models import Membership, Tenant

SESSION_KEY = "mrrx_workspace"


@dataclass(frozen=True)
class Workspace:
    tenant: Tenant | None
    # The user's role there; None for operators and for users with no workspace.
    role: str | None
    # Every workspace the user may switch to, as (tenant, role) pairs.
    choices: tuple[tuple[Tenant, str | None], ...]


def _resolve(request: HttpRequest) -> Workspace:
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return Workspace(None, None, ())
    wanted = request.session.get(SESSION_KEY)
    if user.is_superuser:
        tenants = list(Tenant.objects.order_by("name"))
        current = next((t for t in tenants if t.pk == wanted), tenants[0] if tenants else None)
        return Workspace(current, None, tuple((t, None) for t in tenants))
    memberships = list(
        Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
    )
    if not memberships:
        return Workspace(None, None, ())
    chosen = next((m for m in memberships if m.tenant_id == wanted), memberships[0])
    return Workspace(chosen.tenant, chosen.role, tuple((m.tenant, m.role) for m in memberships))


def workspace(request: HttpRequest) -> Workspace:
    """The request's workspace, worked out once per request."""
    cached = getattr(request, "_mrrx_workspace", None)
    if cached is None:
        cached = _resolve(request)
        request._mrrx_workspace = cached  # type: ignore[attr-defined]
    return cached


def current_tenant(request: HttpRequest) -> Tenant | None:
    return workspace(request).tenant


def current_role(request: HttpRequest) -> str | None:
    """The user's role in the current workspace (None for operators and outsiders)."""
    return workspace(request).role


def workspace_switch(request: HttpRequest, tenant_id: str) -> bool:
    """Make ``tenant_id`` the current workspace if the user may work in it."""
    if not any(tenant.pk == tenant_id for tenant, _ in workspace(request).choices):
        return False
    request.session[SESSION_KEY] = tenant_id
    if hasattr(request, "_mrrx_workspace"):
        del request._mrrx_workspace  # type: ignore[attr-defined]
    return True
