"""Reads of sessions, always from the workspace and mode of the caller."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from tenants.models import Tenant

from .models import Session


def session_get(*, tenant: Tenant, livemode: bool, session_id: str) -> Session | None:
    return Session.objects.filter(tenant=tenant, livemode=livemode, id=session_id).first()


def session_list(
    *,
    tenant: Tenant,
    livemode: bool,
    statuses: list[str] | None = None,
    customer_id: str | None = None,
    subscription_id: str | None = None,
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> QuerySet[Session]:
    filters: dict[str, Any] = {"tenant": tenant, "livemode": livemode}
    if statuses:
        filters["status__in"] = statuses
    if customer_id:
        filters["customer_id"] = customer_id
    if subscription_id:
        filters["subscription_id"] = subscription_id
    if created_gte:
        filters["created_at__gte"] = created_gte
    if created_lt:
        filters["created_at__lt"] = created_lt
    return Session.objects.filter(**filters)
