"""Saves carry what analytics reads of their session: its start, source, experiment and
arm, survey reason and the offer accepted, copied from the session (or custom session) of
every save written before, so that retention figures no longer read the session table.

The rule for the accepted offer is copied here as it was when this migration was written,
so that later changes to ``retention.rules`` do not change what this migration did.
"""

from typing import Any

from django.db import migrations, models

BATCH = 2000
COPIED = [
    "session_started_at",
    "session_source",
    "experiment_id",
    "experiment_arm",
    "survey_reason",
    "accepted_offer_id",
]


def _accepted_offer_id(offers: Any, outcome_action: str) -> str:
    if not isinstance(offers, list):
        return ""
    shown = {
        str(o["offer_id"]): str(o.get("action", ""))
        for o in offers
        if isinstance(o, dict) and o.get("shown") and o.get("offer_id")
    }
    return next((offer_id for offer_id, action in shown.items() if action == outcome_action), "")


def _copied(row: dict[str, Any]) -> dict[str, Any]:
    if row["session_id"] is None:
        return {
            "session_started_at": row["custom_session__started_at"],
            "session_source": "custom",
            "experiment_id": "",
            "experiment_arm": "",
            "survey_reason": row["custom_session__survey_reason"],
            "accepted_offer_id": "",
        }
    return {
        "session_started_at": row["session__created_at"],
        "session_source": row["session__source"],
        "experiment_id": row["session__experiment_id"],
        "experiment_arm": row["session__experiment_arm"],
        "survey_reason": row["session__survey_reason"],
        "accepted_offer_id": _accepted_offer_id(
            row["session__offers_considered"], row["outcome_action"]
        ),
    }


def backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    Save = apps.get_model("retention", "Save")
    rows = Save.objects.order_by("pk").values(
        "pk",
        "outcome_action",
        "session_id",
        "session__created_at",
        "session__source",
        "session__experiment_id",
        "session__experiment_arm",
        "session__survey_reason",
        "session__offers_considered",
        "custom_session__started_at",
        "custom_session__survey_reason",
    )
    last = None
    while True:
        batch = list((rows if last is None else rows.filter(pk__gt=last))[:BATCH])
        if not batch:
            break
        last = batch[-1]["pk"]
        Save.objects.bulk_update([Save(pk=row["pk"], **_copied(row)) for row in batch], COPIED)


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
        migrations.AlterField(
            model_name="save",
            name="session_started_at",
            field=models.DateTimeField(),
        ),
        migrations.AddIndex(
            model_name="save",
            index=models.Index(
                fields=["tenant", "livemode", "session_started_at", "session_source"],
                name="save_session_started_idx",
            ),
        ),
    ]
