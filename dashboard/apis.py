"""``GET /api/v1/analytics``: the analytics page's figures for the key's workspace and mode."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.schema import error_responses
from mrrx.api.serializers import StrictSerializer
from mrrx.api.views import ApiView
from mrrx.formats import iso_timestamp
from tenants.models import SCOPE_ANALYTICS_READ

from .analytics import SOURCES, Period
from .experiment_results import (
    EXPERIMENT_DEFINITIONS,
    ExperimentResult,
    experiment_results,
    experiments_for,
)
from .figures import (
    GROUP_BY,
    Figures,
    Scope,
    all_definitions,
    analytics_figures,
    group_by_allowed,
)
from .forms import MAX_RANGE_DAYS

# Every figure of a group and of the totals: its field name is its definition's key.
FIGURE_KEYS = (
    "sessions_started",
    "completed",
    "saved",
    "canceled",
    "deflected",
    "save_rate",
    "mrr_saved",
    "retained",
    "mrr_retained_90",
    "mrr_retained_90_per_session",
)
ARM_KEYS = (*FIGURE_KEYS, "difference_vs_holdout")


def definitions_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('dashboard_analytics')}"


def definitions_repr(*, group_by: str | None) -> dict[str, dict[str, str]]:
    """The page's definitions of the figures in an answer, by key, each linked."""
    wanted = {*FIGURE_KEYS, "experiment_results", "difference_vs_holdout", "not_enough_data"}
    if group_by:
        wanted.add(f"group_{group_by}")
    base = definitions_url()
    return {
        key: {"term": term, "text": text, "url": f"{base}#def-{key}"}
        for key, term, text in all_definitions() + EXPERIMENT_DEFINITIONS
        if key in wanted
    }


def _money(amounts: dict[str, int] | dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"currency": currency, "amount": amount} for currency, amount in sorted(amounts.items())
    ]


def figures_repr(figures: Figures) -> dict[str, Any]:
    c = figures.counts
    return {
        "sessions_started": c["started"],
        "completed": c["completed"],
        "saved": c["saved"],
        "canceled": c["canceled"],
        "deflected": c.get("deflected", 0),
        "save_rate": figures.save_rate,
        "mrr_saved": _money({row.currency: row.saved for row in figures.mrr}),
        "retained": [
            {
                "day": day,
                "saves": entry.saves,
                "retained": entry.retained,
                "churned": entry.churned,
                "pending": entry.pending,
                "rate": entry.rate,
            }
            for day, entry in sorted(figures.retention.items())
        ],
        "mrr_retained_90": _money(figures.mrr_retained_90),
        "mrr_retained_90_per_session": _money(
            {cur: round(value, 2) for cur, value in figures.mrr_retained_90_per_session.items()}
        ),
    }


def experiment_repr(result: ExperimentResult) -> dict[str, Any]:
    experiment = result.experiment
    holdout = result.holdout
    arms = []
    for arm in result.arms:
        arms.append(
            {
                "key": arm.arm.key,
                "name": arm.arm.name,
                "kind": arm.arm.kind,
                "sessions_started": arm.sessions,
                "completed": arm.counts["completed"],
                "saved": arm.counts["saved"],
                "save_rate": arm.save_rate,
                "retained": [
                    {
                        "day": day,
                        "retained": arm.retained[day],
                        "churned": arm.churned[day],
                        "rate_per_session": arm.retained_rate(day),
                    }
                    for day in sorted(arm.retained)
                ],
                "mrr_retained_90": _money(
                    {cur: arm.mrr_retained_90(cur) for cur in result.currencies}
                ),
                "mrr_retained_90_per_session": _money(
                    {
                        cur: round(arm.mrr_retained_90_per_session(cur) or 0.0, 2)
                        for cur in result.currencies
                    }
                ),
                "difference_vs_holdout": [
                    {
                        "figure": c.figure,
                        "currency": c.currency or None,
                        "value": c.arm_value,
                        "holdout_value": c.holdout_value,
                        "difference": (
                            c.arm_value - c.holdout_value
                            if c.arm_value is not None and c.holdout_value is not None
                            else None
                        ),
                        "ci95_low": c.interval.low if c.interval else None,
                        "ci95_high": c.interval.high if c.interval else None,
                        "enough_data": c.enough_data,
                    }
                    for c in arm.comparisons
                ],
            }
        )
    return {
        "id": experiment.pk,
        "name": experiment.name,
        "status": experiment.status,
        "started_at": iso_timestamp(experiment.started_at),
        "stopped_at": iso_timestamp(experiment.stopped_at),
        "holdout_arm": holdout.arm.key if holdout else None,
        "arms": arms,
    }


# --- Schema --------------------------------------------------------------------------------


class MoneySerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="lower-case ISO code")
    amount = serializers.FloatField(help_text="in the currency's smallest unit")

    class Meta:
        ref_name = "AnalyticsMoney"


class RetentionSerializer(serializers.Serializer):
    day = serializers.ChoiceField(choices=[30, 60, 90])
    saves = serializers.IntegerField()
    retained = serializers.IntegerField()
    churned = serializers.IntegerField()
    pending = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="retained ÷ (retained + churned)")

    class Meta:
        ref_name = "AnalyticsRetention"


class FiguresSerializer(serializers.Serializer):
    sessions_started = serializers.IntegerField()
    completed = serializers.IntegerField()
    saved = serializers.IntegerField()
    canceled = serializers.IntegerField()
    deflected = serializers.IntegerField()
    save_rate = serializers.FloatField(allow_null=True)
    mrr_saved = MoneySerializer(many=True)
    retained = RetentionSerializer(many=True)
    mrr_retained_90 = MoneySerializer(many=True)
    mrr_retained_90_per_session = MoneySerializer(many=True)

    class Meta:
        ref_name = "AnalyticsFigures"


class GroupSerializer(FiguresSerializer):
    key = serializers.CharField(
        help_text="reason code, offer id, <experiment id>:<arm key>, or YYYY-MM-DD; "
        "none for sessions without one"
    )
    label = serializers.CharField()

    class Meta:
        ref_name = "AnalyticsGroup"


class ArmRetentionSerializer(serializers.Serializer):
    day = serializers.ChoiceField(choices=[30, 60, 90])
    retained = serializers.IntegerField()
    churned = serializers.IntegerField()
    rate_per_session = serializers.FloatField(allow_null=True)

    class Meta:
        ref_name = "AnalyticsArmRetention"


class ComparisonSerializer(serializers.Serializer):
    figure = serializers.ChoiceField(
        choices=["save_rate", "retained_30", "retained_60", "retained_90",
                 "mrr_retained_90_per_session"]
    )  # fmt: skip
    currency = serializers.CharField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    holdout_value = serializers.FloatField(allow_null=True)
    difference = serializers.FloatField(allow_null=True)
    ci95_low = serializers.FloatField(allow_null=True)
    ci95_high = serializers.FloatField(allow_null=True)
    enough_data = serializers.BooleanField(help_text="false: not enough data, no interval")

    class Meta:
        ref_name = "AnalyticsComparison"


class ArmSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["variant", "holdout"])
    sessions_started = serializers.IntegerField()
    completed = serializers.IntegerField()
    saved = serializers.IntegerField()
    save_rate = serializers.FloatField(allow_null=True)
    retained = ArmRetentionSerializer(many=True)
    mrr_retained_90 = MoneySerializer(many=True)
    mrr_retained_90_per_session = MoneySerializer(many=True)
    difference_vs_holdout = ComparisonSerializer(many=True)

    class Meta:
        ref_name = "AnalyticsArm"


class ExperimentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["running", "stopped"])
    started_at = serializers.CharField(allow_null=True)
    stopped_at = serializers.CharField(allow_null=True)
    holdout_arm = serializers.CharField(allow_null=True)
    arms = ArmSerializer(many=True)

    class Meta:
        ref_name = "AnalyticsExperiment"


class DefinitionSerializer(serializers.Serializer):
    term = serializers.CharField()
    text = serializers.CharField()
    url = serializers.URLField(help_text="the definition on the analytics page")

    class Meta:
        ref_name = "AnalyticsDefinition"


class AnalyticsSerializer(serializers.Serializer):
    object = serializers.CharField(default="analytics")
    livemode = serializers.BooleanField()
    source = serializers.ChoiceField(choices=list(SOURCES))
    group_by = serializers.ChoiceField(choices=list(GROUP_BY), allow_null=True)
    totals = FiguresSerializer()
    groups = GroupSerializer(many=True)
    experiments = ExperimentSerializer(many=True)
    definitions = serializers.DictField(
        child=DefinitionSerializer(),
        help_text="the definition of every figure above, by the figure's field name",
    )

    class Meta:
        ref_name = "Analytics"

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword: declared here rather than as class attributes.
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        fields["to"] = serializers.DateField()
        return fields


class AnalyticsGetApi(ApiView):
    required_scopes = (SCOPE_ANALYTICS_READ,)
    rate_limit_scope = "analytics.read"

    class InputSerializer(StrictSerializer):
        to = serializers.DateField(required=False)
        group_by = serializers.ChoiceField(choices=list(GROUP_BY), required=False)
        source = serializers.ChoiceField(choices=list(SOURCES), required=False)

        class Meta:
            ref_name = "AnalyticsQuery"

        def get_fields(self) -> dict[str, serializers.Field]:
            fields = super().get_fields()
            fields["from"] = serializers.DateField(required=False)
            return fields

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            end: date = attrs.get("to") or timezone.now().date()
            start: date = attrs.get("from") or end - timedelta(
                days=settings.ANALYTICS_DEFAULT_DAYS - 1
            )
            if start > end:
                raise serializers.ValidationError({"from": "must not be after to"})
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise serializers.ValidationError(
                    {"to": f"the range is at most {MAX_RANGE_DAYS} days"}
                )
            source = attrs.get("source") or "flow"
            group_by = attrs.get("group_by")
            if group_by and group_by not in group_by_allowed(source=source):
                raise serializers.ValidationError(
                    {"group_by": f"custom sessions are grouped by reason or day, not {group_by}"}
                )
            return {"period": Period(start=start, end=end), "source": source, "group_by": group_by}

    @extend_schema(
        operation_id="analytics_get",
        summary="The analytics figures, optionally split by reason, offer, arm or day",
        description=(
            "The figures of the analytics page for the key's workspace and mode, over the "
            "UTC days `from` to `to` (inclusive; default the last 30 days, at most 366), "
            "for one `source` (default `flow`: the hosted page and the flow API; `api`: "
            "direct cancels; `custom`: your own flow's reports). Each figure's field name "
            "is the key of its definition in `definitions`, which links the page. "
            "`experiments` holds every experiment that ran in the range, over its whole "
            "run: each arm's figures and each variant's difference against the holdout "
            "with its 95% confidence interval (`enough_data: false` below the minimum)."
        ),
        parameters=[
            OpenApiParameter("from", date, description="first UTC day, YYYY-MM-DD"),
            OpenApiParameter("to", date, description="last UTC day (inclusive), YYYY-MM-DD"),
            OpenApiParameter("group_by", str, enum=list(GROUP_BY)),
            OpenApiParameter("source", str, enum=list(SOURCES)),
        ],
        responses={
            200: AnalyticsSerializer,
            **error_responses(
                "validation_error",
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "rate_limited",
            ),
        },
        examples=[
            OpenApiExample(
                "By reason",
                response_only=True,
                value={
                    "object": "analytics",
                    "livemode": True,
                    "from": "2026-01-01",
                    "to": "2026-01-31",
                    "source": "flow",
                    "group_by": "reason",
                    "totals": {
                        "sessions_started": 120,
                        "completed": 90,
                        "saved": 36,
                        "canceled": 50,
                        "deflected": 4,
                        "save_rate": 0.4,
                        "mrr_saved": [{"currency": "usd", "amount": 104400}],
                        "retained": [
                            {
                                "day": 30,
                                "saves": 36,
                                "retained": 30,
                                "churned": 4,
                                "pending": 2,
                                "rate": 0.882,
                            },
                        ],
                        "mrr_retained_90": [{"currency": "usd", "amount": 52200}],
                        "mrr_retained_90_per_session": [{"currency": "usd", "amount": 435.0}],
                    },
                    "groups": ["…"],
                    "experiments": ["…"],
                    "definitions": {
                        "save_rate": {
                            "term": "Save rate",
                            "text": "Saved ÷ Completed.",
                            "url": "https://mrrx.example.com/admin/analytics/#def-save_rate",
                        }
                    },
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        period: Period = query.validated_data["period"]
        source: str = query.validated_data["source"]
        group_by: str | None = query.validated_data["group_by"]
        scope = Scope(
            tenant=request.tenant, livemode=request.livemode, period=period, source=source
        )
        totals, groups = analytics_figures(scope=scope, group_by=group_by)
        experiments = experiments_for(
            tenant=request.tenant, livemode=request.livemode, period=period
        )
        return Response(
            {
                "object": "analytics",
                "livemode": request.livemode,
                "from": period.start.isoformat(),
                "to": period.end.isoformat(),
                "source": source,
                "group_by": group_by,
                "totals": figures_repr(totals),
                "groups": [{"key": g.key, "label": g.label, **figures_repr(g)} for g in groups],
                "experiments": [
                    experiment_repr(experiment_results(experiment=e)) for e in experiments
                ],
                "definitions": definitions_repr(group_by=group_by),
            }
        )
