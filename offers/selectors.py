"""Reads of the flow configuration that the hosted flow and the API need."""

from __future__ import annotations

from django.db import IntegrityError

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
