"""A workspace's cancellation flow: the reasons it asks about and the offers for each."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mrrx.ids import PrefixedId


class Reason(models.TextChoices):
    TOO_EXPENSIVE = "too_expensive", _("Too expensive")
    NOT_USING_ENOUGH = "not_using_enough", _("Not using it enough")
    MISSING_FEATURES = "missing_features", _("Missing features I need")
    SWITCHING_COMPETITOR = "switching_competitor", _("Switching to a competitor")
    TECHNICAL_ISSUES = "technical_issues", _("Technical issues")
    BUSINESS_CLOSING = "business_closing", _("Business closing / project ended")
    OTHER = "other", _("Other")


class OfferAction(models.TextChoices):
    PAUSE = "pause"
    DISCOUNT = "discount"
    DOWNGRADE = "downgrade"
    EXTEND_TRIAL = "extend_trial"
    # "Talk to us first": a message with a link or address; nothing is done on Stripe.
    CONTACT = "contact"
    # Off to a page of the merchant's own (on the return-URL allowlist).
    REDIRECT = "redirect"


class CancelTiming(models.TextChoices):
    PERIOD_END = "period_end", "At the end of the billing period"
    IMMEDIATELY = "immediately", "Immediately"


class ProrationBehavior(models.TextChoices):
    CREATE_PRORATIONS = "create_prorations"
    NONE = "none"
    ALWAYS_INVOICE = "always_invoice"


def default_reasons() -> list[str]:
    return list(Reason.values)


TRIAL_EXTENSION_DAYS_MAX = 90
DISCOUNT_COOLDOWN_MONTHS_MAX = 120


class FlowConfig(models.Model):
    """How one workspace's flow runs in one mode (test or live)."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("flow"), editable=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="flow_configs"
    )
    livemode = models.BooleanField()
    # Reason codes in the order the survey shows them; a code left out is not asked about.
    # (Checked by ``offers.params.reasons_clean`` in services and admin.)
    reasons = models.JSONField(
        default=default_reasons,
        help_text="Reason codes in display order: "
        + ", ".join(f'"{code}"' for code in Reason.values)
        + ". Leave a code out to stop asking about it.",
    )
    cancel_timing = models.CharField(
        max_length=20, choices=CancelTiming.choices, default=CancelTiming.PERIOD_END
    )
    ask_feedback = models.BooleanField(
        default=True, help_text="Ask for optional free-text feedback before confirming."
    )
    proration_behavior = models.CharField(
        max_length=20,
        choices=ProrationBehavior.choices,
        default=ProrationBehavior.CREATE_PRORATIONS,
        help_text="How Stripe prorates a downgrade.",
    )
    discount_cooldown_months = models.PositiveSmallIntegerField(
        default=12,
        validators=[MaxValueValidator(DISCOUNT_COOLDOWN_MONTHS_MAX)],
        help_text="No discount is offered to a customer who accepted one this many months "
        "back (0: no cool-down).",
    )
    trial_extension_first = models.BooleanField(
        default=True, help_text="Offer trialing subscribers a trial extension before anything else."
    )
    trial_extension_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(TRIAL_EXTENSION_DAYS_MAX)],
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "flow configuration"
        ordering = ["tenant__name", "livemode"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "livemode"], name="one_flow_config_per_mode"),
            models.CheckConstraint(
                condition=Q(cancel_timing__in=CancelTiming.values),
                name="flow_config_cancel_timing_known",
            ),
            models.CheckConstraint(
                condition=Q(proration_behavior__in=ProrationBehavior.values),
                name="flow_config_proration_known",
            ),
            models.CheckConstraint(
                condition=Q(discount_cooldown_months__lte=DISCOUNT_COOLDOWN_MONTHS_MAX),
                name="flow_config_cooldown_range",
            ),
            models.CheckConstraint(
                condition=Q(trial_extension_days__gte=1)
                & Q(trial_extension_days__lte=TRIAL_EXTENSION_DAYS_MAX),
                name="flow_config_trial_days_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} ({'live' if self.livemode else 'test'})"

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"


class Flow(models.Model):
    """One segment's flow: who it is for (its rule) and what they are asked and offered.

    A configuration's flows are tried in priority order (lowest first) and the first whose
    rule matches the subscription is used; the configuration's own reasons and its offers
    without a flow are the default, used when none matches. ``rule`` is checked and
    matched by ``offers.segments``.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("flw"), editable=False
    )
    config = models.ForeignKey(FlowConfig, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=0, help_text="Lower is tried first.")
    rule = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(
        default=default_reasons, help_text="Reason codes in display order for this flow."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["config", "priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["config", "name"], name="flow_name_unique_per_config"),
        ]

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    """One offer shown for one reason. Its ``params`` are checked by ``offers.params``."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("ofr"), editable=False
    )
    config = models.ForeignKey(FlowConfig, on_delete=models.CASCADE, related_name="offers")
    # The segment flow it belongs to; none: the configuration's default flow.
    flow = models.ForeignKey(
        Flow, on_delete=models.CASCADE, related_name="offers", null=True, blank=True
    )
    reason = models.CharField(max_length=32, choices=Reason.choices)
    # Not unique: reordering in admin would otherwise collide half-way.
    position = models.PositiveSmallIntegerField(default=0)
    action = models.CharField(max_length=20, choices=OfferAction.choices)
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["reason", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=Reason.values), name="offer_reason_known"
            ),
            models.CheckConstraint(
                condition=Q(action__in=OfferAction.values), name="offer_action_known"
            ),
        ]
        indexes = [models.Index(fields=["config", "reason", "position"], name="offer_order_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} for {self.reason}"
