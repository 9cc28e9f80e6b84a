"""The audit log's one opening for erasure: a workspace's entries may have their changes,
network and user agent rewritten, by ``audit_entries_redact`` and nothing else.

On PostgreSQL the trigger (audit migration 0004) holds this for any statement: with the
setting naming the workspace, an UPDATE of that workspace's rows touching only those
columns (the network only to null) goes through; anything else is refused as before.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import ActorKind, AuditAction, AuditEntry, AuditEntryImmutable
from audit.services import REDACT_SETTING, AuditRedaction, audit_entries_redact
from tests.audit.conftest import on_postgresql

pytestmark = pytest.mark.django_db

TABLE = AuditEntry._meta.db_table


def _entry(tenant_id: str = "ws_a", **fields) -> AuditEntry:  # type: ignore[no-untyped-def]
    return AuditEntry.objects.create(
        tenant_id=tenant_id,
        livemode=False,
        actor_kind=ActorKind.SUBSCRIBER,
        actor_id="cus_1",
        actor_label="cus_1",
        action=AuditAction.SESSION_SURVEY_COMPLETED,
        object_type="sessions_app.session",
        object_id="ses_1",
        object_repr="ses_1",
        changes={"survey_feedback": "my words"},
        ip="203.0.113.0",
        user_agent="Browser/1.0",
        **fields,
    )


def _stored(entry: AuditEntry) -> dict:
    return AuditEntry.objects.filter(pk=entry.pk).values().get()


def test_redact_rewrites_changes_network_and_agent_and_nothing_else():
    entry, other = _entry(), _entry()
    before = _stored(entry)

    changed = audit_entries_redact(
        tenant_id="ws_a",
        redactions={
            entry.pk: AuditRedaction(changes={"survey_feedback": "[erased]"}, forget_client=True)
        },
        user_agent="[erased]",
    )

    assert changed == 1
    after = _stored(entry)
    assert after == {
        **before,
        "changes": {"survey_feedback": "[erased]"},
        "ip": None,
        "user_agent": "[erased]",
    }
    assert _stored(other)["changes"] == {"survey_feedback": "my words"}


def test_redact_keeps_the_network_of_a_caller_who_was_not_the_person():
    entry = _entry()

    audit_entries_redact(
        tenant_id="ws_a",
        redactions={entry.pk: AuditRedaction(changes={"survey_feedback": "[erased]"})},
        user_agent="[erased]",
    )

    stored = _stored(entry)
    assert (stored["ip"], stored["user_agent"]) == ("203.0.113.0", "Browser/1.0")
    assert stored["changes"] == {"survey_feedback": "[erased]"}


def test_redact_never_reaches_another_workspaces_entry():
    theirs = _entry(tenant_id="ws_b")

    changed = audit_entries_redact(
        tenant_id="ws_a",
        redactions={theirs.pk: AuditRedaction(changes={}, forget_client=True)},
        user_agent="[erased]",
    )

    assert changed == 0
    assert _stored(theirs)["changes"] == {"survey_feedback": "my words"}


def test_the_model_guard_still_refuses_every_change():
    entry = _entry()
    with pytest.raises(AuditEntryImmutable):
        AuditEntry.objects.filter(pk=entry.pk).update(changes={})
    with pytest.raises(AuditEntryImmutable):
        entry.save()


def _raw(statement: str, *params, redact_for: str | None = None) -> None:  # type: ignore[no-untyped-def]
    with transaction.atomic(), connection.cursor() as cursor:
        if redact_for is not None:
            cursor.execute("SELECT set_config(%s, %s, true)", [REDACT_SETTING, redact_for])
        cursor.execute(statement, list(params))


@on_postgresql
@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET action = 'api_key.revoked' WHERE id = %s",
        f"UPDATE {TABLE} SET actor_id = 'cus_2', changes = '{{}}' WHERE id = %s",
        f"UPDATE {TABLE} SET object_id = 'ses_2' WHERE id = %s",
        f"UPDATE {TABLE} SET created_at = now() WHERE id = %s",
        f"UPDATE {TABLE} SET ip = '198.51.100.0' WHERE id = %s",
        f"DELETE FROM {TABLE} WHERE id = %s",
    ],
)
def test_the_trigger_refuses_anything_but_redaction_even_with_the_setting(statement):
    entry = _entry()
    before = _stored(entry)

    with pytest.raises(DatabaseError, match="append-only"):
        _raw(statement, entry.pk, redact_for="ws_a")

    assert _stored(entry) == before


@on_postgresql
def test_the_trigger_lets_redaction_through_for_the_named_workspace_only():
    ours, theirs = _entry(), _entry(tenant_id="ws_b")
    redact = f"UPDATE {TABLE} SET changes = '{{}}', ip = NULL, user_agent = '' WHERE id = %s"

    with pytest.raises(DatabaseError, match="append-only"):
        _raw(redact, ours.pk)  # no setting
    with pytest.raises(DatabaseError, match="append-only"):
        _raw(redact, theirs.pk, redact_for="ws_a")
    _raw(redact, ours.pk, redact_for="ws_a")

    assert (_stored(ours)["changes"], _stored(ours)["ip"]) == ({}, None)
    assert _stored(theirs)["changes"] == {"survey_feedback": "my words"}


@on_postgresql
def test_redact_leaves_no_permission_behind_in_its_callers_transaction():
    entry, later = _entry(), _entry()
    audit_entries_redact(
        tenant_id="ws_a",
        redactions={entry.pk: AuditRedaction(changes={}, forget_client=True)},
        user_agent="[erased]",
    )

    with pytest.raises(DatabaseError, match="append-only"):
        _raw(f"UPDATE {TABLE} SET changes = '{{}}' WHERE id = %s", later.pk)
    assert _stored(later)["changes"] == {"survey_feedback": "my words"}
