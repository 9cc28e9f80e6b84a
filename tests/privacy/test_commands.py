"""``manage.py customer_export`` and ``customer_erase``: JSON out, the system as actor, and a
clear refusal (exit status 1) for a workspace that does not exist."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import ManagementUtility, call_command

from audit.models import AuditEntry
from sessions_app.models import Session
from webhooks.models import Event

from .conftest import FEEDBACK
from .test_privacy_api import CUSTOMER, _session

pytestmark = pytest.mark.django_db


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture(autouse=True)
def _keep_the_tests_connection(monkeypatch):  # type: ignore[no-untyped-def]
    # manage.py closes every database connection as it ends: here that would be the one
    # holding this test's transaction.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)


def _manage(*args: str) -> int:
    """``manage.py <args>`` as the shell runs it (argument parsing, errors on stderr): its
    exit status."""
    try:
        ManagementUtility(["manage.py", *args]).execute()
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0


def test_export_prints_the_document_by_workspace_slug(tenant):
    session = _session(tenant)

    document = _run("customer_export", "--tenant", tenant.slug, CUSTOMER)

    assert (document["object"], document["workspace_id"], document["livemode"]) == (
        "customer_export",
        tenant.pk,
        False,
    )
    assert [s["id"] for s in document["sessions"]] == [session.pk]
    assert document["sessions"][0]["survey_feedback"] == FEEDBACK
    entry = AuditEntry.objects.get(action="customer.exported")
    assert (entry.actor_kind, entry.tenant_id) == ("system", tenant.pk)


def test_erase_in_live_mode_by_workspace_id(tenant):
    live, test = _session(tenant, livemode=True), _session(tenant)

    erasure = _run("customer_erase", "--tenant", tenant.pk, "--live", CUSTOMER)

    assert (erasure["object"], erasure["livemode"]) == ("customer_erasure", True)
    assert erasure["counts"]["sessions"] == 1
    live.refresh_from_db()
    test.refresh_from_db()
    assert (live.survey_feedback, test.survey_feedback) == ("[erased]", FEEDBACK)
    event = Event.objects.get(type="customer.erased")
    assert (event.pk, event.livemode) == (erasure["event_id"], True)
    entry = AuditEntry.objects.get(action="customer.erased")
    assert (entry.actor_kind, entry.livemode) == ("system", True)


def test_the_commands_exit_0_with_json_on_stdout(tenant, capsys):
    _session(tenant)

    assert _manage("customer_erase", "--tenant", tenant.slug, CUSTOMER) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["sessions"] == 1
    assert _manage("customer_export", "--tenant", tenant.slug, CUSTOMER) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["sessions"] == 1


@pytest.mark.parametrize("command", ["customer_export", "customer_erase"])
def test_an_unknown_workspace_is_a_clear_error_and_exit_status_1(db, command, capsys):
    sessions_before = Session.objects.count()

    status = _manage(command, "--tenant", "no-such-workspace", CUSTOMER)

    captured = capsys.readouterr()
    assert status == 1
    assert "No workspace 'no-such-workspace'" in captured.err
    assert captured.out == ""
    assert sessions_before == Session.objects.count()
    assert not AuditEntry.objects.exists() and not Event.objects.exists()


def test_a_bad_customer_id_is_refused(tenant, capsys):
    assert _manage("customer_export", "--tenant", tenant.slug, "cus with spaces") == 1
    assert "customer id" in capsys.readouterr().err
