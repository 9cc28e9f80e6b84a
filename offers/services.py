"""Everything that writes flow configurations and offers."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.changes import fields_diff
from audit.models import AuditAction
from audit.services import audit_record

from .models import Flow, FlowConfig, Offer, OfferAction, Reason
from .params import offer_params_clean, reasons_clean
from .segments import rule_clean

_DISCOUNT = (OfferAction.DISCOUNT, {"percent_off": 25, "duration_months": 3})
_PAUSE = (OfferAction.PAUSE, {"months_options": [1, 2, 3]})
# No targets until the merchant names them, so the offer is held back as no_cheaper_target.
_DOWNGRADE = (OfferAction.DOWNGRADE, {"targets": {}})

# The offers a new flow starts with, per reason, in order. Trial extensions are not here:
# ``trial_extension_first`` puts one in front of every reason for trialing subscribers.
DEFAULT_OFFERS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    Reason.TOO_EXPENSIVE: [_DISCOUNT, _DOWNGRADE],
    Reason.NOT_USING_ENOUGH: [_PAUSE, _DOWNGRADE],
    Reason.MISSING_FEATURES: [_DISCOUNT],
    Reason.SWITCHING_COMPETITOR: [_DISCOUNT],
    Reason.TECHNICAL_ISSUES: [_PAUSE],
    Reason.BUSINESS_CLOSING: [_PAUSE],
    Reason.OTHER: [_DISCOUNT],
}

FLOW_CONFIG_EDITABLE = (
    "reasons",
    "cancel_timing",
    "ask_feedback",
    "proration_behavior",
    "discount_cooldown_months",
    "trial_extension_first",
    "trial_extension_days",
)
OFFER_EDITABLE = ("reason", "position", "action", "params", "enabled", "flow")
FLOW_EDITABLE = ("name", "priority", "rule", "reasons", "enabled")
FLOW_NAME_MAX = 100
PRIORITY_MAX = 32767


def flow_config_create_defaults(*, tenant, livemode: bool) -> FlowConfig:  # type: ignore[no-untyped-def]
    """Create the mode's flow configuration with the default reasons and offers.

    Raises ``IntegrityError`` if the workspace already has one for that mode.
    """
    with transaction.atomic():
        config = FlowConfig.objects.create(tenant=tenant, livemode=livemode)
        Offer.objects.bulk_create(
            Offer(
                config=config,
                reason=reason,
                position=position,
                action=action,
                params=offer_params_clean(action=action, params=params),
            )
            for reason, offers in DEFAULT_OFFERS.items()
            for position, (action, params) in enumerate(offers)
        )
    return config


def flow_configs_create_for_tenant(tenant) -> None:  # type: ignore[no-untyped-def]
    """The ``on_tenant_created`` hook: a new workspace gets a flow in each mode."""
    for livemode in (False, True):
        flow_config_create_defaults(tenant=tenant, livemode=livemode)


def flow_config_update(*, config: FlowConfig, **changes: Any) -> FlowConfig:
    """Change any of ``FLOW_CONFIG_EDITABLE``; raises ``ValidationError`` naming each bad
    field, and saves nothing then."""
    unknown = set(changes) - set(FLOW_CONFIG_EDITABLE)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    errors: dict[str, list[str]] = {}
    if "reasons" in changes:
        try:
            changes["reasons"] = reasons_clean(changes["reasons"])
        except ValidationError as exc:
            errors["reasons"] = exc.messages
    candidate = FlowConfig(
        **{name: getattr(config, name) for name in ("id", "tenant_id", "livemode")},
        **{name: changes.get(name, getattr(config, name)) for name in FLOW_CONFIG_EDITABLE},
    )
    try:
        candidate.clean_fields(exclude=["id", "tenant", "livemode", "updated_at", "reasons"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        audit_record(
            action=AuditAction.FLOW_CONFIG_CHANGED,
            target=config,
            changes=fields_diff(
                {name: getattr(config, name) for name in changes},
                {name: getattr(candidate, name) for name in changes},
            ),
        )
        for name in changes:
            setattr(config, name, getattr(candidate, name))
        config.updated_at = timezone.now()
        config.save(update_fields=[*changes, "updated_at"])
    return config


def _offer_clean(fields: dict[str, Any], *, config: FlowConfig) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if fields["reason"] not in Reason.values:
        errors["reason"] = [
            f"Unknown reason {fields['reason']!r}; choose one of {', '.join(Reason.values)}."
        ]
    if fields["action"] not in OfferAction.values:
        errors["action"] = [
            f"Unknown action {fields['action']!r}; choose one of {', '.join(OfferAction.values)}."
        ]
    else:
        try:
            fields["params"] = offer_params_clean(
                action=fields["action"], params=fields["params"], config=config
            )
        except ValidationError as exc:
            errors["params"] = exc.messages
    position = fields["position"]
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 32767:
        errors["position"] = ["Position must be a whole number from 0 to 32767."]
    flow = fields.get("flow")
    if flow is not None and flow.config_id != config.pk:
        errors["flow"] = ["Choose one of this configuration's flows, or none for the default."]
    if errors:
        raise ValidationError(errors)
    return fields


def _touch(config: FlowConfig) -> None:
    config.updated_at = timezone.now()
    FlowConfig.objects.filter(pk=config.pk).update(updated_at=config.updated_at)


def offer_create(
    *,
    config: FlowConfig,
    reason: str,
    action: str,
    params: dict[str, Any],
    position: int | None = None,
    enabled: bool = True,
    flow: Flow | None = None,
) -> Offer:
    """Add an offer for ``reason`` to ``flow`` (a segment flow of ``config``; None: the
    default flow); by default after the reason's existing offers in that flow."""
    with transaction.atomic():
        if position is None:
            siblings = config.offers.filter(reason=reason, flow=flow)
            last = siblings.aggregate(last=Max("position"))["last"]
            position = 0 if last is None else last + 1
        fields = _offer_clean(
            {
                "reason": reason,
                "action": action,
                "params": params,
                "position": position,
                "enabled": bool(enabled),
                "flow": flow,
            },
            config=config,
        )
        offer = Offer.objects.create(config=config, **fields)
        _touch(config)
        audit_record(
            action=AuditAction.OFFER_ADDED,
            target=offer,
            tenant_id=config.tenant_id,
            livemode=config.livemode,
            changes=fields_diff({}, fields),
        )
    return offer


def offer_update(*, offer: Offer, **changes: Any) -> Offer:
    """Change any of ``OFFER_EDITABLE``; the params are checked against the (new) action."""
    unknown = set(changes) - set(OFFER_EDITABLE)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    current = {name: getattr(offer, name) for name in OFFER_EDITABLE}
    fields = _offer_clean(
        {**current, **changes, "enabled": bool(changes.get("enabled", offer.enabled))},
        config=offer.config,
    )
    with transaction.atomic():
        for name, value in fields.items():
            setattr(offer, name, value)
        offer.save(update_fields=list(OFFER_EDITABLE))
        _touch(offer.config)
        audit_record(
            action=AuditAction.OFFER_CHANGED,
            target=offer,
            tenant_id=offer.config.tenant_id,
            livemode=offer.config.livemode,
            changes=fields_diff(current, fields),
        )
    return offer


def offer_delete(*, offer: Offer) -> None:
    with transaction.atomic():
        config = offer.config
        audit_record(
            action=AuditAction.OFFER_DELETED,
            target=offer,
            tenant_id=config.tenant_id,
            livemode=config.livemode,
            changes=fields_diff({name: getattr(offer, name) for name in OFFER_EDITABLE}, {}),
        )
        offer.delete()
        _touch(config)


def _flow_clean(
    fields: dict[str, Any], *, config: FlowConfig, flow_id: str | None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = fields["name"]
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > FLOW_NAME_MAX:
        errors["name"] = [f"Name the flow in 1 to {FLOW_NAME_MAX} characters."]
    else:
        fields["name"] = name.strip()
        taken = config.flows.filter(name=fields["name"]).exclude(id=flow_id or "").exists()
        if taken:
            errors["name"] = [f"This configuration already has a flow named {fields['name']!r}."]
    priority = fields["priority"]
    whole = isinstance(priority, int) and not isinstance(priority, bool)
    if not whole or not 0 <= priority <= PRIORITY_MAX:
        errors["priority"] = [f"Priority must be a whole number from 0 to {PRIORITY_MAX}."]
    for key, clean in (("rule", rule_clean), ("reasons", reasons_clean)):
        try:
            fields[key] = clean(fields[key])
        except ValidationError as exc:
            errors[key] = exc.messages
    fields["enabled"] = bool(fields["enabled"])
    if errors:
        raise ValidationError(errors)
    return fields


def flow_create(
    *,
    config: FlowConfig,
    name: str,
    rule: dict[str, Any] | None = None,
    reasons: list[str] | None = None,
    priority: int | None = None,
    enabled: bool = True,
) -> Flow:
    """Add a segment flow to ``config``: tried after the existing ones unless ``priority``
    says otherwise, asking the configuration's reasons unless ``reasons`` are given.
    Raises ``ValidationError`` naming each bad field (``rule`` by ``offers.segments``)."""
    with transaction.atomic():
        if priority is None:
            last = config.flows.aggregate(last=Max("priority"))["last"]
            priority = 0 if last is None else min(last + 1, PRIORITY_MAX)
        fields = _flow_clean(
            {
                "name": name,
                "priority": priority,
                "rule": {} if rule is None else rule,
                "reasons": list(config.reasons) if reasons is None else reasons,
                "enabled": enabled,
            },
            config=config,
            flow_id=None,
        )
        now = timezone.now()
        flow = Flow.objects.create(config=config, created_at=now, updated_at=now, **fields)
        _touch(config)
        audit_record(
            action=AuditAction.FLOW_ADDED,
            target=flow,
            tenant_id=config.tenant_id,
            livemode=config.livemode,
            changes=fields_diff({}, fields),
        )
    return flow


def flow_update(*, flow: Flow, **changes: Any) -> Flow:
    """Change any of ``FLOW_EDITABLE``; raises ``ValidationError`` naming each bad field,
    and saves nothing then."""
    unknown = set(changes) - set(FLOW_EDITABLE)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    config = flow.config
    current = {name: getattr(flow, name) for name in FLOW_EDITABLE}
    fields = _flow_clean({**current, **changes}, config=config, flow_id=flow.id)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(flow, name, value)
        flow.updated_at = timezone.now()
        flow.save(update_fields=[*FLOW_EDITABLE, "updated_at"])
        _touch(config)
        audit_record(
            action=AuditAction.FLOW_CHANGED,
            target=flow,
            tenant_id=config.tenant_id,
            livemode=config.livemode,
            changes=fields_diff(current, fields),
        )
    return flow


def flow_delete(*, flow: Flow) -> None:
    """Remove a segment flow and its offers; sessions it was chosen for keep its id and
    fall back to the default flow's reasons and offers."""
    with transaction.atomic():
        config = flow.config
        offers = list(flow.offers.values_list("id", flat=True))
        audit_record(
            action=AuditAction.FLOW_DELETED,
            target=flow,
            tenant_id=config.tenant_id,
            livemode=config.livemode,
            changes={
                **fields_diff({name: getattr(flow, name) for name in FLOW_EDITABLE}, {}),
                "offers_deleted": offers,
            },
        )
        flow.delete()
        _touch(config)
