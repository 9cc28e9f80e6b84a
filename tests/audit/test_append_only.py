"""Entries are never changed or deleted, except old ones by the retention prune."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import tasks
from audit.models import ActorKind, AuditAction, AuditEntry, AuditEntryImmutable
from audit.services import PRUNE_SETTING, audit_entries_prune

from .conftest import on_postgresql

pytestmark = pytest.mark.django_db

TABLE = AuditEntry._meta.db_table


def _entry(*, age: timedelta = timedelta(0), object_id: str = "key_1") -> AuditEntry:
    return AuditEntry.objects.create(
        created_at=timezone.now() - age,
        tenant_id="ws_1",
        actor_kind=ActorKind.SYSTEM,
        action=AuditAction.API_KEY_ISSUED,
        object_type="tenants.apikey",
        object_id=object_id,
    )


def _stored(entry: AuditEntry) -> dict:
    return AuditEntry.objects.filter(pk=entry.pk).values().get()


# --- The model layer ---------------------------------------------------------------------------


def test_a_saved_entry_cannot_be_saved_again():
    entry = _entry()
    before = _stored(entry)
    entry.action = AuditAction.API_KEY_REVOKED
    with pytest.raises(AuditEntryImmutable):
        entry.save()
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.get(pk=entry.pk).save(update_fields=["action"])
    assert _stored(entry) == before


def test_an_entry_with_a_taken_id_is_refused_rather_than_overwriting():
    entry = _entry()
    before = _stored(entry)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry(id=entry.pk, actor_kind=ActorKind.USER, action="admin.changed").save()
    assert _stored(entry) == before


def test_entries_cannot_be_deleted_one_or_many():
    entry = _entry()
    with pytest.raises(AuditEntryImmutable):
        entry.delete()
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_querysets_refuse_update_and_bulk_update():
    entry = _entry()
    before = _stored(entry)
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.filter(pk=entry.pk).update(action=AuditAction.API_KEY_REVOKED)
    entry.object_id = "key_2"
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.bulk_update([entry], ["object_id"])
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.update_or_create(pk=entry.pk, defaults={"object_id": "key_3"})
    assert _stored(entry) == before


# --- The database (PostgreSQL) -----------------------------------------------------------------


@on_postgresql
@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET action = 'api_key.revoked' WHERE id = %s",
        f"DELETE FROM {TABLE} WHERE id = %s",
    ],
)
def test_raw_update_and_delete_are_refused_by_the_trigger(statement):
    entry = _entry(age=timedelta(days=5000))
    before = _stored(entry)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [entry.pk])
    assert _stored(entry) == before


@on_postgresql
@pytest.mark.django_db(transaction=True)  # real transactions: the setting is per transaction
def test_the_prune_setting_lets_only_older_rows_go_and_ends_with_its_transaction():
    old, young = _entry(age=timedelta(days=10)), _entry(age=timedelta(days=1))
    cutoff = (timezone.now() - timedelta(days=5)).isoformat()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, cutoff])
        cursor.execute(f"UPDATE {TABLE} SET object_id = 'x' WHERE id = %s", [old.pk])
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, cutoff])
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [young.pk])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, cutoff])
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [old.pk])
    assert not AuditEntry.objects.filter(pk=old.pk).exists()

    # The next transaction on the same connection has no setting left.
    older = _entry(age=timedelta(days=20))
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [older.pk])
    assert {e.pk for e in AuditEntry.objects.all()} == {young.pk, older.pk}


# --- Retention ---------------------------------------------------------------------------------


def test_retention_deletes_only_entries_older_than_the_setting(settings):
    two_years = timedelta(days=730)
    assert two_years == settings.AUDIT_RETENTION  # the default
    ancient = _entry(age=timedelta(days=731), object_id="ancient")
    kept = [
        _entry(age=timedelta(days=729), object_id="last_year"),
        _entry(age=timedelta(days=1), object_id="yesterday"),
        _entry(object_id="now"),
    ]

    assert tasks.audit_entries_prune() == 1

    assert not AuditEntry.objects.filter(pk=ancient.pk).exists()
    assert set(AuditEntry.objects.values_list("pk", flat=True)) == {e.pk for e in kept}


def test_a_shorter_retention_prunes_more_and_a_second_run_nothing(settings):
    settings.AUDIT_RETENTION = timedelta(days=30)
    _entry(age=timedelta(days=400))
    _entry(age=timedelta(days=31))
    recent = _entry(age=timedelta(days=29))

    assert audit_entries_prune() == 2
    assert audit_entries_prune() == 0
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [recent.pk]


def test_retention_runs_in_batches(settings, monkeypatch):
    monkeypatch.setattr("audit.services.PRUNE_BATCH", 2)
    for _ in range(5):
        _entry(age=timedelta(days=1000))
    keep = _entry()
    assert audit_entries_prune() == 5
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [keep.pk]


def test_beat_runs_the_prune_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-prune"]
    assert entry["task"] == tasks.audit_entries_prune.name == "audit.tasks.audit_entries_prune"
    assert entry["schedule"] == timedelta(days=1)


@on_postgresql
def test_the_prune_leaves_no_permission_behind_in_its_callers_transaction():
    # A test runs in one transaction: what the prune allowed would still be allowed here.
    _entry(age=timedelta(days=1000))
    assert audit_entries_prune() == 1
    later = _entry(age=timedelta(days=1000))
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [later.pk])
    assert AuditEntry.objects.filter(pk=later.pk).exists()
