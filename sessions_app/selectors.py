"""Reads of sessions, always from the workspace and mode of the caller."""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from mrrx.rows import RowReader
from offers.models import Flow, FlowConfig
from offers.selectors import flow_config_get, flow_for
from tenants.models import Tenant

from .models import Action, Session, SessionStatus

# The API's read of one session (``GET /api/v1/sessions/<id>``), compiled once.
_SESSION_BY_ID: RowReader[Session] = RowReader(Session, ["id", "tenant_id", "livemode"])


def session_get(*, tenant: Tenant, livemode: bool, session_id: str) -> Session | None:
    return _SESSION_BY_ID.get(session_id, tenant.pk, livemode)


def session_flow(session: Session) -> tuple[FlowConfig, Flow | None]:
    """The workspace's flow configuration and the session's segment flow (None: the
    default flow, also for a flow deleted since the session began)."""
    config = flow_config_get(tenant=session.tenant, livemode=session.livemode)
    return config, flow_for(config, session.flow_id)


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


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (clamped to month end)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def recent_discount_accepted(
    *,
    tenant: Tenant,
    livemode: bool,
    customer_id: str,
    months: int,
    now: datetime | None = None,
) -> bool:
    """Whether the customer took a discount through MRRX in the last ``months`` months
    (0: no cool-down)."""
    if months <= 0 or not customer_id:
        return False
    since = months_before(now or timezone.now(), months)
    return Session.objects.filter(
        tenant=tenant,
        livemode=livemode,
        customer_id=customer_id,
        status=SessionStatus.COMPLETED,
        outcome_action=Action.DISCOUNT,
        executed_at__gte=since,
    ).exists()
