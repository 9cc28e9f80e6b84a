"""Reads of the flow configuration that the hosted flow and the API need."""

from __future__ import annotations

from django.db import IntegrityError

from mrrx.recent import RecentReads

from .models import CancelTiming, Flow, FlowConfig, Reason

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


# Configurations by (workspace id, livemode), as this process read them lately.
RECENT_CONFIGS: RecentReads[FlowConfig] = RecentReads()


def flow_config_recent(*, tenant, livemode: bool) -> FlowConfig:  # type: ignore[no-untyped-def]
    """``flow_config_get``, as this process read it less than API_KEY_CACHE_SECONDS ago
    (``mrrx.recent``): for a hot path that only reads it (creating a session), never for
    one that changes it."""
    tenant_id = getattr(tenant, "pk", tenant)
    return RECENT_CONFIGS.get(
        (tenant_id, livemode), lambda: flow_config_get(tenant=tenant, livemode=livemode)
    )


def flow_for(config: FlowConfig, flow_id: str) -> Flow | None:
    """The configuration's segment flow ``flow_id`` (a session's ``flow_id``); None for
    ``""`` (the default flow), and for a flow since deleted or of another configuration,
    whose session then falls back to the default flow."""
    if not flow_id:
        return None
    return Flow.objects.filter(config=config, id=flow_id).first()


def reasons_for(*, config: FlowConfig, flow: Flow | None = None) -> list[tuple[str, str]]:
    """The reasons the survey asks about, as (code, label), in the order of ``flow``
    (a segment flow of ``config``), else of the configuration (the default flow)."""
    codes = flow.reasons if flow is not None else config.reasons
    return [(code, _LABELS[code]) for code in codes if code in _LABELS]


def reasons_any_flow(*, config: FlowConfig) -> set[str]:
    """Every reason code some flow of ``config`` asks about (the default's or an enabled
    segment flow's): what a reason given before the flow is known may be."""
    codes = set(config.reasons)
    for reasons in config.flows.filter(enabled=True).values_list("reasons", flat=True):
        codes.update(reasons or [])
    return codes & set(_LABELS)


def cancel_at_period_end(*, config: FlowConfig) -> bool:
    return config.cancel_timing == CancelTiming.PERIOD_END
