"""Saves carry what analytics reads of their session: its start, source, experiment and
arm, survey reason and the offer accepted, copied from the session (or custom session) of
every save written before, so that retention figures no longer read the session table.
The start becomes required, and indexed, in 0004: PostgreSQL alters the table only once
this migration's updates have committed.

The rule for the accepted offer is copied here as it was when this migration was written,
so that later changes to ``retention.rules`` do not change what this migration did.
"""

from collections import defaultdict
from typing import Any

from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Value

BATCH = 2000


def _accepted_offer_id(offers: Any, outcome_action: str) -> str:
    if not isinstance(offers, list):
        return ""
    shown = {
        str(o["offer_id"]): str(o.get("action", ""))
        for o in offers
        if isinstance(o, dict) and o.get("shown") and o.get("offer_id")
    }
    return next((offer_id for offer_id, action in shown.items() if action == outcome_action), "")


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    Save = apps.get_model("retention", "Save")
    Session = apps.get_model("sessions_app", "Session")
    CustomSession = apps.get_model("sessions_app", "CustomSession")

    def of_session(column: str) -> Subquery:
        return Subquery(Session.objects.filter(pk=OuterRef("session_id")).values(column)[:1])

    def of_custom_session(column: str) -> Subquery:
        return Subquery(
            CustomSession.objects.filter(pk=OuterRef("custom_session_id")).values(column)[:1]
        )

    Save.objects.filter(session__isnull=False).update(
        session_started_at=of_session("created_at"),
        session_source=of_session("source"),
        experiment_id=of_session("experiment_id"),
        experiment_arm=of_session("experiment_arm"),
        survey_reason=of_session("survey_reason"),
    )
    Save.objects.filter(custom_session__isnull=False).update(
        session_started_at=of_custom_session("started_at"),
        session_source=Value("custom"),
        survey_reason=of_custom_session("survey_reason"),
    )
    # The accepted offer is read from the session's JSON here rather than in SQL (the same
    # on PostgreSQL and SQLite); a workspace has few offers, so one UPDATE per offer a batch.
    rows = (
        Save.objects.filter(session__isnull=False)
        .order_by("pk")
        .values("pk", "outcome_action", "session__offers_considered")
    )
    last = None
    while True:
        batch = list((rows if last is None else rows.filter(pk__gt=last))[:BATCH])
        if not batch:
            break
        last = batch[-1]["pk"]
        saves_of_offer: dict[str, list[str]] = defaultdict(list)
        for row in batch:
            offer_id = _accepted_offer_id(row["session__offers_considered"], row["outcome_action"])
            if offer_id:
                saves_of_offer[offer_id].append(row["pk"])
        for offer_id, pks in saves_of_offer.items():
            Save.objects.filter(pk__in=pks).update(accepted_offer_id=offer_id)


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0002_checkpoint_pending_idx"),
        ("sessions_app", "0013_analytics_index_covers_experiments_and_hub"),
    ]

    operations = [
        migrations.AddField(
            model_name="save",
            name="session_started_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="save",
            name="session_source",
            field=models.CharField(default="", max_length=8),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="save",
            name="experiment_id",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.AddField(
            model_name="save",
            name="experiment_arm",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.AddField(
            model_name="save",
            name="survey_reason",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AddField(
            model_name="save",
            name="accepted_offer_id",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
