"""Writes behind the merchant dashboard: the demo merchant's sign-in."""

from __future__ import annotations

import secrets

from tenants.members import member_add
from tenants.models import Membership, Tenant

DEMO_MERCHANT_EMAIL = "demo@example.com"


def demo_merchant_reset(*, tenant: Tenant, email: str = DEMO_MERCHANT_EMAIL) -> str:
    """Make ``email`` an owner of the demo workspace with a new password, and return it."""
    password = secrets.token_urlsafe(12)
    member_add(tenant=tenant, email=email, role=Membership.Role.OWNER, password=password)
    return password
