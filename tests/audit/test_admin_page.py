"""The audit log in admin: owners and admins read, filter and export their workspace's
entries; viewers get nothing; another workspace's entries do not exist for them."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from audit.models import ActorKind, AuditAction, AuditEntry
from tenants.services import apikey_issue, apikey_revoke
from tests.dashboard.conftest import change_url, changelist_url
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db

LISTING = changelist_url(AuditEntry)
EXPORT = reverse("admin:audit_auditentry_export")


@pytest.fixture
def logged(workspace_a, workspace_b):  # type: ignore[no-untyped-def]
    """Two workspaces' entries: a key issued and revoked, and an endpoint made, in each."""
    made = {}
    for tenant in (workspace_a, workspace_b):
        key, _ = apikey_issue(tenant=tenant, livemode=False, name=f"key of {tenant.slug}")
        apikey_revoke(api_key=key)
        endpoint, _ = endpoint_create(
            tenant=tenant, livemode=True, url=f"https://{tenant.slug}.example.com/hooks"
        )
        made[tenant.slug] = {
            "issued": AuditEntry.objects.get(action=AuditAction.API_KEY_ISSUED, object_id=key.pk),
            "revoked": AuditEntry.objects.get(action=AuditAction.API_KEY_REVOKED, object_id=key.pk),
            "endpoint": AuditEntry.objects.get(object_id=endpoint.pk),
        }
    return made


def _csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _links(page: str, entries) -> set[str]:  # type: ignore[no-untyped-def]
    return {e.pk for e in entries if change_url(e) in page}


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_list_and_open_only_their_workspace(
    role, merchant_client, workspace_a, logged
):
    client = merchant_client(workspace_a, role)
    mine, theirs = logged["alpha"], logged["bravo"]

    page = client.get(LISTING)
    assert page.status_code == 200
    html = page.content.decode()
    assert _links(html, mine.values()) == {e.pk for e in mine.values()}
    assert _links(html, theirs.values()) == set()
    assert EXPORT in html  # the export link, on the list itself

    opened = client.get(change_url(mine["issued"]))
    assert opened.status_code == 200
    assert "API key issued" in opened.content.decode()
    assert "key of alpha" in opened.content.decode()  # the changes
    for entry in theirs.values():
        for suffix in ("change", "history"):
            assert client.get(change_url(entry, suffix)).status_code == 404


def test_filters_and_search_narrow_the_list(merchant_client, workspace_a, logged):
    client = merchant_client(workspace_a, "admin")
    mine = logged["alpha"]

    revoked = client.get(LISTING, {"action__exact": "api_key.revoked"}).content.decode()
    assert _links(revoked, mine.values()) == {mine["revoked"].pk}
    live = client.get(LISTING, {"livemode__exact": "1"}).content.decode()
    assert _links(live, mine.values()) == {mine["endpoint"].pk}
    by_type = client.get(LISTING, {"object_type": "webhooks.endpoint"}).content.decode()
    assert _links(by_type, mine.values()) == {mine["endpoint"].pk}
    found = client.get(LISTING, {"q": mine["issued"].object_id}).content.decode()
    assert _links(found, mine.values()) == {mine["issued"].pk, mine["revoked"].pk}
    # Searching for another workspace's object finds nothing.
    other = client.get(LISTING, {"q": logged["bravo"]["issued"].object_id}).content.decode()
    assert _links(other, logged["bravo"].values()) == set()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_export_is_the_filtered_list_of_the_workspace_only(
    role, merchant_client, workspace_a, logged
):
    client = merchant_client(workspace_a, role)
    mine = logged["alpha"]

    rows = _csv(client.get(EXPORT))
    assert list(rows[0]) == [
        "created_at",
        "tenant_id",
        "livemode",
        "actor_kind",
        "actor_id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "ip",
        "user_agent",
        "id",
    ]
    assert {row["id"] for row in rows} == {e.pk for e in mine.values()}
    assert {row["tenant_id"] for row in rows} == {workspace_a.pk}
    issued = next(row for row in rows if row["id"] == mine["issued"].pk)
    assert issued["action"] == "api_key.issued" and issued["actor_label"] == "system"
    assert '"name": "key of alpha"' in issued["changes"]

    filtered = _csv(client.get(EXPORT, {"action__exact": "api_key.revoked"}))
    assert [row["id"] for row in filtered] == [mine["revoked"].pk]


def test_selected_entries_export_as_csv_and_never_another_workspaces(
    merchant_client, workspace_a, logged
):
    client = merchant_client(workspace_a, "owner")
    chosen = [logged["alpha"]["issued"].pk, logged["bravo"]["issued"].pk]
    response = client.post(
        LISTING, {"action": "export_selected_csv", "_selected_action": chosen, "index": 0}
    )
    assert [row["id"] for row in _csv(response)] == [logged["alpha"]["issued"].pk]


def test_viewers_get_403_everywhere(merchant_client, workspace_a, logged):
    client = merchant_client(workspace_a, "viewer")
    entry = logged["alpha"]["issued"]
    assert client.get(LISTING).status_code == 403
    assert client.get(change_url(entry)).status_code == 403
    assert client.get(EXPORT).status_code == 403
    action = {"action": "export_selected_csv", "_selected_action": [entry.pk]}
    assert client.post(LISTING, action).status_code == 403
    assert LISTING not in client.get("/admin/").content.decode()


def test_nobody_adds_changes_or_deletes_entries_in_admin(
    merchant_client, operator_client, workspace_a, logged
):
    entry = logged["alpha"]["issued"]
    before = AuditEntry.objects.filter(pk=entry.pk).values().get()
    for client in (merchant_client(workspace_a, "owner"), operator_client):
        assert client.get(LISTING + "add/").status_code == 403
        assert 'name="_save"' not in client.get(change_url(entry)).content.decode()
        assert client.post(change_url(entry), {"action": "x"}).status_code == 403
        assert client.get(change_url(entry, "delete")).status_code == 403
        assert client.post(change_url(entry, "delete"), {"post": "yes"}).status_code == 403
        page = client.get(LISTING).content.decode()
        assert 'value="delete_selected"' not in page
    assert AuditEntry.objects.filter(pk=entry.pk).values().get() == before


def test_operators_see_and_export_every_workspace(operator_client, logged):
    everything = {e.pk for made in logged.values() for e in made.values()}
    page = operator_client.get(LISTING).content.decode()
    assert {pk for pk in everything if f"/{quote(pk)}/change/" in page} == everything
    assert {row["id"] for row in _csv(operator_client.get(EXPORT))} >= everything


def test_a_cell_a_spreadsheet_would_run_is_quoted(merchant_client, workspace_a):
    AuditEntry.objects.create(
        tenant_id=workspace_a.pk,
        actor_kind=ActorKind.SUBSCRIBER,
        actor_id="cus_1",
        action=AuditAction.SESSION_VIEWED,
        object_type="sessions_app.session",
        object_id="ses_1",
        user_agent='=HYPERLINK("https://evil.example","x")',
    )
    rows = _csv(merchant_client(workspace_a, "owner").get(EXPORT))
    assert rows[0]["user_agent"] == '\'=HYPERLINK("https://evil.example","x")'
