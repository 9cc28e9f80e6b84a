"""Reads of the flow configuration that the hosted flow and the API need."""

from __future__ import annotations

import calendar
from datetime import datetime

from django.db import IntegrityError
from django.utils import timezone

from .models import CancelTiming, FlowConfig, Reason

# (code, label) for every survey reason, in the default order; labels are translatable.
REASONS: list[tuple[str, str]] = list(Reason.choices)
_LABELS = dict(REASONS)


def flow_config_get(*, tenant, livemode: bool) -> FlowConfig:  # type: ignore[no-untyped-def]
    """The workspace's flow configuration for the mode, made with defaults if missing
    (workspaces created before the offers app existed have none)."""
    from .services import flow_config_create_defaults

    config = FlowConfig.objects.filter(tenant=tenant, livemode=livemode).first()
    if config is not None:
        return config
    try:
        return flow_config_create_defaults(tenant=tenant, livemode=livemode)
    except IntegrityError:  # made meanwhile by a concurrent request
        return FlowConfig.objects.get(tenant=tenant, livemode=livemode)


def reasons_for(*, config: FlowConfig) -> list[tuple[str, str]]:
    """The reasons the survey asks about, as (code, label), in the configured order."""
    return [(code, _LABELS[code]) for code in config.reasons if code in _LABELS]


def cancel_at_period_end(*, config: FlowConfig) -> bool:
    return config.cancel_timing == CancelTiming.PERIOD_END


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (clamped to month end)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def recent_discount_accepted(
    *,
    tenant,  # type: ignore[no-untyped-def]
    livemode: bool,
    customer_id: str,
    months: int,
    now: datetime | None = None,
) -> bool:
    """Whether the customer took a discount through MRRX in the last ``months`` months
    (0: no cool-down)."""
    if months <= 0 or not customer_id:
        return False
    # Imported here: sessions_app depends on offers, not the other way round.
    from sessions_app.models import Action, Session, SessionStatus

    since = months_before(now or timezone.now(), months)
    return Session.objects.filter(
        tenant=tenant,
        livemode=livemode,
        customer_id=customer_id,
        status=SessionStatus.COMPLETED,
        outcome_action=Action.DISCOUNT,
        executed_at__gte=since,
    ).exists()
