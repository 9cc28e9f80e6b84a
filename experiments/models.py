"""Experiments: sessions split between arms of offers, with an optional holdout."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from mrrx.ids import PrefixedId


class ExperimentStatus(models.TextChoices):
    # Being set up: assigns nothing yet.
    DRAFT = "draft"
    # Assigns every new session of its workspace and mode to an arm.
    RUNNING = "running"
    # Assigns nothing more; its sessions and results stay.
    STOPPED = "stopped"


class ArmKind(models.TextChoices):
    # Shows its own offers (or the workspace's configured ones when it names none).
    VARIANT = "variant"
    # Shows no offer: the survey, then the cancel confirmation.
    HOLDOUT = "holdout"


class Experiment(models.Model):
    """One test of offers in one workspace and mode; at most one runs at a time."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("exp"), editable=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="experiments"
    )
    livemode = models.BooleanField()
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "livemode"],
                condition=Q(status="running"),
                name="one_running_experiment_per_mode",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ExperimentStatus.values), name="experiment_status_known"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Arm(models.Model):
    """One arm: its share of the traffic and what its sessions are offered."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("arm"), editable=False
    )
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    # Recorded on each session (``Session.experiment_arm``): short, stable, unique per
    # experiment, e.g. "pct20", "pct30", "holdout".
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ArmKind.choices, default=ArmKind.VARIANT)
    # Relative share of new sessions (weights 1:1:1 split three ways).
    weight = models.PositiveSmallIntegerField(default=1)
    # A variant's offers by reason, {"too_expensive": [{"action": "discount", "params":
    # {...}}, ...], ...}, each checked by ``offers.params``; a reason left out keeps the
    # workspace's configured offers. Empty for a holdout.
    offers = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["experiment", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="arm_key_unique"),
            models.UniqueConstraint(
                fields=["experiment"],
                condition=Q(kind="holdout"),
                name="one_holdout_per_experiment",
            ),
            models.CheckConstraint(condition=Q(kind__in=ArmKind.values), name="arm_kind_known"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.name}"
