"""Everything that writes experiments: checks of arms and their offers, create, start, stop.

An experiment goes draft -> running -> stopped, never back: a stopped experiment keeps
its sessions and results, and a new test is a new experiment. Only one runs per
workspace and mode (a unique constraint, so two owners starting two at once cannot both
succeed). While it runs, only the traffic split (the arms' weights) may change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.changes import fields_diff
from audit.models import AuditAction
from audit.services import audit_record
from offers.models import FlowConfig, OfferAction, Reason
from offers.params import offer_params_clean
from offers.selectors import flow_config_get
from tenants.models import Tenant

from .models import Arm, ArmKind, Experiment, ExperimentStatus
from .selectors import RECENT_RUNNING

ARMS_MIN = 2
ARMS_MAX = 10
OFFERS_PER_REASON_MAX = 5
# What an arm may offer: whatever a configured offer may.
ARM_ACTIONS = tuple(OfferAction.values)

OFFERS_EXAMPLE = (
    '{"too_expensive": [{"action": "discount", "params": {"percent_off": 30, '
    '"duration_months": 3}}]}'
)


def arm_offers_clean(value: Any, *, config: FlowConfig | None = None) -> dict[str, list[dict]]:
    """Check a variant's offers by reason, ``{"<reason>": [{"action", "params"}, ...]}``.

    Each offer's parameters are checked by ``offers.params`` as a configured offer's are;
    a reason listed with ``[]`` shows no offer for it. Returns them normalised, or raises
    ``ValidationError`` listing every problem, each naming the reason and offer.
    """
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            f"Offers must be a JSON object of reason codes to lists of offers, e.g. "
            f"{OFFERS_EXAMPLE}.",
            code="invalid_offers",
        )
    errors: list[str] = []
    cleaned: dict[str, list[dict]] = {}
    for reason, offers in value.items():
        if reason not in Reason.values:
            errors.append(f"Unknown reason {reason!r}; known: {', '.join(Reason.values)}.")
            continue
        if not isinstance(offers, list) or len(offers) > OFFERS_PER_REASON_MAX:
            errors.append(
                f"{reason}: a list of at most {OFFERS_PER_REASON_MAX} offers, each "
                '{"action": ..., "params": {...}} ([] for none).'
            )
            continue
        cleaned[reason] = []
        for number, offer in enumerate(offers, start=1):
            where = f"{reason}, offer {number}"
            if not isinstance(offer, dict) or not set(offer) <= {"action", "params"}:
                errors.append(f'{where}: an object with "action" and "params" only.')
                continue
            action = offer.get("action")
            if action not in ARM_ACTIONS:
                errors.append(f"{where}: action must be one of {', '.join(ARM_ACTIONS)}.")
                continue
            try:
                params = offer_params_clean(
                    action=action, params=offer.get("params", {}), config=config
                )
            except ValidationError as exc:
                errors.extend(f"{where} ({action}): {message}" for message in exc.messages)
                continue
            cleaned[reason].append({"action": action, "params": params})
    if errors:
        raise ValidationError([ValidationError(m, code="invalid_offers") for m in errors])
    return cleaned


def arms_check(arms: Sequence[Mapping[str, Any]]) -> list[str]:
    """What is wrong with a set of arms (each with ``key``, ``kind``, ``weight``,
    ``offers``), as sentences for the merchant; empty when nothing is."""
    errors = []
    if not ARMS_MIN <= len(arms) <= ARMS_MAX:
        errors.append(
            f"An experiment needs {ARMS_MIN} to {ARMS_MAX} arms, e.g. two offer variants and "
            f"a holdout (it has {len(arms)})."
        )
    keys = [arm.get("key") for arm in arms]
    repeated = sorted({str(key) for key in keys if keys.count(key) > 1})
    if repeated:
        errors.append(f"Each arm needs its own key; used twice: {', '.join(repeated)}.")
    holdouts = [arm for arm in arms if arm.get("kind") == ArmKind.HOLDOUT]
    if len(holdouts) > 1:
        errors.append("At most one arm may be the holdout.")
    if any(arm.get("offers") for arm in holdouts):
        errors.append("A holdout shows no offers: leave its offers empty.")
    weights = [arm.get("weight") or 0 for arm in arms]
    if sum(weights) <= 0:
        errors.append(
            "The weights must add up to more than 0: they split new sessions between the "
            "arms (1, 1, 1 is three equal thirds)."
        )
    return errors


def arm_fields(arm: Arm) -> dict[str, Any]:
    # "arm", not "key": the audit log masks any field named like a secret.
    return {"arm": arm.key, "name": arm.name, "kind": arm.kind, "weight": arm.weight,
            "offers": arm.offers, "position": arm.position}  # fmt: skip


def experiment_create(
    *,
    tenant: Tenant,
    livemode: bool,
    name: str,
    arms: Sequence[Mapping[str, Any]],
    description: str = "",
) -> Experiment:
    """A draft experiment with its arms (``key``, ``name``, ``kind``, ``weight``,
    ``offers``), checked as admin checks them."""
    config = flow_config_get(tenant=tenant, livemode=livemode)
    errors = arms_check(arms)
    cleaned = []
    for arm in arms:
        try:
            cleaned.append({**arm, "offers": arm_offers_clean(arm.get("offers"), config=config)})
        except ValidationError as exc:
            errors.extend(f"Arm {arm.get('key')}: {message}" for message in exc.messages)
    if not name.strip():
        errors.append("Give the experiment a name.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        experiment = Experiment.objects.create(
            tenant=tenant, livemode=livemode, name=name.strip(), description=description
        )
        for position, arm in enumerate(cleaned):
            created = Arm.objects.create(
                experiment=experiment,
                key=arm["key"],
                name=arm.get("name") or arm["key"],
                kind=arm.get("kind", ArmKind.VARIANT),
                weight=arm.get("weight", 1),
                offers=arm["offers"],
                position=position,
            )
            audit_record(
                action=AuditAction.ADMIN_ADDED,
                target=created,
                tenant_id=tenant.pk,
                livemode=livemode,
                changes={"fields": fields_diff({}, arm_fields(created))},
            )
        audit_record(
            action=AuditAction.ADMIN_ADDED,
            target=experiment,
            changes={"fields": fields_diff({}, {"name": experiment.name, "status": "draft"})},
        )
    return experiment


def _running_elsewhere(experiment: Experiment) -> Experiment | None:
    return (
        Experiment.objects.filter(
            tenant_id=experiment.tenant_id,
            livemode=experiment.livemode,
            status=ExperimentStatus.RUNNING,
        )
        .exclude(pk=experiment.pk)
        .first()
    )


def experiment_start(*, experiment: Experiment) -> Experiment:
    """Draft -> running: from now on every new session of its workspace and mode is
    assigned to one of its arms. Raises ``ValidationError`` saying why it cannot start."""
    arms = [
        {"key": a.key, "kind": a.kind, "weight": a.weight, "offers": a.offers}
        for a in experiment.arms.all()
    ]
    errors = arms_check(arms)
    if experiment.status != ExperimentStatus.DRAFT:
        errors.insert(
            0,
            f"“{experiment.name}” is {experiment.status}: only a draft can start (a stopped "
            "experiment keeps its results; to test again, add a new one).",
        )
    other = _running_elsewhere(experiment)
    if other is not None:
        errors.append(
            f"“{other.name}” is already running in {'live' if other.livemode else 'test'} "
            "mode: stop it first (one experiment runs at a time)."
        )
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    try:
        with transaction.atomic():
            moved = Experiment.objects.filter(
                pk=experiment.pk, status=ExperimentStatus.DRAFT
            ).update(status=ExperimentStatus.RUNNING, started_at=now, updated_at=now)
            if moved:
                audit_record(
                    action=AuditAction.ADMIN_CHANGED,
                    target=experiment,
                    changes={
                        "fields": {"status": {"before": "draft", "after": "running"}},
                        "message": "Started",
                    },
                )
    except IntegrityError as exc:  # another one started meanwhile
        raise ValidationError(
            "Another experiment is already running in this mode: stop it first."
        ) from exc
    # Sessions this process creates from now on are assigned; other processes' within
    # API_KEY_CACHE_SECONDS (mrrx.recent).
    RECENT_RUNNING.forget()
    if not moved:
        raise ValidationError(f"“{experiment.name}” is no longer a draft.")
    experiment.refresh_from_db()
    return experiment


def experiment_stop(*, experiment: Experiment) -> Experiment:
    """Running -> stopped: new sessions are no longer assigned; those assigned keep their
    arm (and see its offers until they end), and its results stay."""
    now = timezone.now()
    with transaction.atomic():
        moved = Experiment.objects.filter(pk=experiment.pk, status=ExperimentStatus.RUNNING).update(
            status=ExperimentStatus.STOPPED, stopped_at=now, updated_at=now
        )
        if moved:
            audit_record(
                action=AuditAction.ADMIN_CHANGED,
                target=experiment,
                changes={
                    "fields": {"status": {"before": "running", "after": "stopped"}},
                    "message": "Stopped",
                },
            )
    RECENT_RUNNING.forget()
    if not moved:
        raise ValidationError(f"“{experiment.name}” is not running.")
    experiment.refresh_from_db()
    return experiment


def arm_audit(*, arm: Arm, before: dict[str, Any] | None, deleted: bool = False) -> None:
    """Record an arm added, changed (``before`` its fields) or deleted in admin."""
    experiment = arm.experiment
    if deleted:
        action, changes = AuditAction.ADMIN_DELETED, fields_diff(arm_fields(arm), {})
    elif before is None:
        action, changes = AuditAction.ADMIN_ADDED, fields_diff({}, arm_fields(arm))
    else:
        action, changes = AuditAction.ADMIN_CHANGED, fields_diff(before, arm_fields(arm))
    audit_record(
        action=action,
        target=arm,
        tenant_id=experiment.tenant_id,
        livemode=experiment.livemode,
        changes={"fields": changes},
    )
