"""What a save copies of its session (start, source, experiment and arm, reason, the offer
accepted) when it is written, and the migration that filled them for saves made before."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from retention.models import Save
from retention.services import save_record_for_custom_session, save_record_for_session
from sessions_app.models import CustomSession, Session, SessionStatus

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
backfill = importlib.import_module("retention.migrations.0003_save_session_columns").backfill


def offer(offer_id: str, *, shown: bool = True) -> dict:
    return {"offer_id": offer_id, "action": offer_id.split(":")[0], "params": {},
            "shown": shown, "reason": None}  # fmt: skip


def completed_session(tenant, action: str = "discount", **fields) -> Session:  # type: ignore[no-untyped-def]
    now = timezone.now()
    values = {
        "tenant": tenant,
        "livemode": False,
        "status": SessionStatus.COMPLETED,
        "customer_id": "cus_1",
        "subscription_id": "sub_1",
        "price_amount": 2900,
        "price_currency": "usd",
        "price_interval": "month",
        "selected_action": action,
        "outcome_action": action,
        "executed_at": now,
        "completed_at": now,
        "expires_at": now + timedelta(hours=1),
        "created_at": STARTED,
        "survey_reason": "too_expensive",
        "experiment_id": "exp_1",
        "experiment_arm": "pct20",
        # A discount held back, then the one shown (the accepted offer), then a pause.
        "offers_considered": [
            offer("discount:ofr_hidden", shown=False),
            offer("discount:ofr_shown"),
            offer("pause:ofr_pause"),
        ],
        **fields,
    }
    return Session.objects.create(**values)


def custom_session(tenant, **fields) -> CustomSession:  # type: ignore[no-untyped-def]
    values = {
        "tenant": tenant,
        "livemode": True,
        "external_id": "flow-1",
        "customer_id": "cus_2",
        "subscription_id": "sub_2",
        "started_at": STARTED,
        "survey_reason": "missing_features",
        "outcome_action": "pause",
        "offers_shown": [{"action": "pause", "label": "Pause a month"}],
        "mrr_amount": 2900,
        "mrr_currency": "usd",
        **fields,
    }
    return CustomSession.objects.create(**values)


def copied(save: Save) -> tuple:
    return (
        save.session_started_at,
        save.session_source,
        save.experiment_id,
        save.experiment_arm,
        save.survey_reason,
        save.accepted_offer_id,
    )


def test_a_save_carries_its_sessions_start_source_experiment_reason_and_accepted_offer(tenant):
    session = completed_session(tenant, source="api")

    save = save_record_for_session(session_id=session.pk)

    assert save is not None
    save.refresh_from_db()
    expected = (STARTED, "api", "exp_1", "pct20", "too_expensive", "discount:ofr_shown")
    assert copied(save) == expected


def test_a_save_whose_action_no_shown_offer_had_accepts_no_offer(tenant):
    session = completed_session(
        tenant, "downgrade", source="flow", experiment_id="", experiment_arm="", survey_reason=""
    )

    save = save_record_for_session(session_id=session.pk)

    assert save is not None
    assert copied(Save.objects.get(pk=save.pk)) == (STARTED, "flow", "", "", "", "")


def test_a_custom_sessions_save_carries_its_start_and_reason_as_source_custom(tenant):
    record = custom_session(tenant)

    save = save_record_for_custom_session(custom_session_id=record.pk)

    assert save is not None
    assert copied(Save.objects.get(pk=save.pk)) == (
        STARTED, "custom", "", "", "missing_features", ""
    )  # fmt: skip


def test_a_later_report_of_another_reason_moves_the_saves_reason(
    api, django_capture_on_commit_callbacks
):
    report = {
        "external_id": "flow-9",
        "customer_id": "cus_9",
        "subscription_id": "sub_9",
        "started_at": "2026-03-02T09:30:00Z",
        "outcome": {"action": "discount"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/v1/custom_sessions", report).status_code == 201
    assert Save.objects.get().survey_reason == ""

    # The reason alone, the outcome and subscription left as they were.
    later = {
        key: value for key, value in report.items() if key not in ("outcome", "subscription_id")
    }
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post("/api/v1/custom_sessions", {**later, "reason": "too_expensive"})

    assert again.status_code == 200
    save = Save.objects.get()
    assert (save.survey_reason, save.session_started_at) == ("too_expensive", STARTED)


def test_the_migration_fills_the_copies_of_saves_made_before_it(tenant):
    session = completed_session(tenant)
    record = custom_session(tenant)
    flow_save = save_record_for_session(session_id=session.pk)
    custom_save = save_record_for_custom_session(custom_session_id=record.pk)
    assert flow_save is not None and custom_save is not None
    # As the saves stood before the migration: nothing copied yet.
    Save.objects.update(
        session_started_at=datetime(2000, 1, 1, tzinfo=UTC),
        session_source="",
        experiment_id="",
        experiment_arm="",
        survey_reason="",
        accepted_offer_id="",
    )

    backfill(apps, None)

    assert copied(Save.objects.get(pk=flow_save.pk)) == (
        STARTED, "flow", "exp_1", "pct20", "too_expensive", "discount:ofr_shown"
    )  # fmt: skip
    assert copied(Save.objects.get(pk=custom_save.pk)) == (
        STARTED, "custom", "", "", "missing_features", ""
    )  # fmt: skip


def test_the_migration_finds_the_accepted_offer_of_saves_across_its_batches(tenant, monkeypatch):
    migration = importlib.import_module("retention.migrations.0003_save_session_columns")
    monkeypatch.setattr(migration, "BATCH", 2)
    actions = ["discount", "pause", "downgrade", "discount", "pause"]
    sessions = [
        completed_session(
            tenant, action, subscription_id=f"sub_{n}", created_at=STARTED + timedelta(n)
        )
        for n, action in enumerate(actions)
    ]
    for session in sessions:
        save_record_for_session(session_id=session.pk)
    Save.objects.update(
        session_started_at=datetime(2000, 1, 1, tzinfo=UTC), session_source="", accepted_offer_id=""
    )

    migration.backfill(apps, None)

    accepted = {"discount": "discount:ofr_shown", "pause": "pause:ofr_pause", "downgrade": ""}
    assert sorted(
        Save.objects.values_list("session_started_at", "session_source", "accepted_offer_id")
    ) == [(STARTED + timedelta(n), "flow", accepted[action]) for n, action in enumerate(actions)]


@pytest.mark.django_db(transaction=True)
def test_the_migrations_fill_and_then_require_the_copies_on_a_database_with_saves():
    executor = MigrationExecutor(connection)
    # The other apps stay at their latest: only the saves' migrations are undone.
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "retention"]
    before = [("retention", "0002_checkpoint_pending_idx"), *others]
    latest = [("retention", "0004_save_session_started_required")]
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        tenant = old.get_model("tenants", "Tenant").objects.create(name="Old", slug="old")
        session = old.get_model("sessions_app", "Session").objects.create(
            tenant=tenant, livemode=True, customer_id="cus_1", subscription_id="sub_1",
            status="completed", outcome_action="pause", source="api", created_at=STARTED,
            expires_at=STARTED + timedelta(days=1), survey_reason="other",
            experiment_id="exp_1", experiment_arm="pct20",
            offers_considered=[offer("pause:ofr_pause")],
        )  # fmt: skip
        save = old.get_model("retention", "Save").objects.create(
            tenant=tenant, livemode=True, session=session, customer_id="cus_1",
            subscription_id="sub_1", outcome_action="pause", saved_at=STARTED,
        )  # fmt: skip
        old.get_model("retention", "SaveCheckpoint").objects.create(
            save_record=save, day=30, due_at=STARTED + timedelta(days=30)
        )

        MigrationExecutor(connection).migrate(latest)

        assert copied(Save.objects.get(pk=save.pk)) == (
            STARTED, "api", "exp_1", "pct20", "other", "pause:ofr_pause"
        )  # fmt: skip
    finally:
        MigrationExecutor(connection).migrate(latest)
