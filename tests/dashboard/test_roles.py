"""The role matrix, as a merchant meets it: each role x each model admin x each operation.

The expectations are written out here, apart from ``tenants.roles``, so that a change to
the table shows up as a failing line of this matrix.
"""

from __future__ import annotations

import pytest
from django.contrib import admin

from tenants.admin_scoping import TenantScopedAdminMixin

from .conftest import BUILDERS, change_url, changelist_url

pytestmark = pytest.mark.django_db

VIEW, ADM, OWN = "viewer", "admin", "owner"
RANK = {VIEW: 1, ADM: 2, OWN: 3}
# The least role for each operation; None: no merchant, whatever the role.
EXPECTED: dict[str, dict[str, str | None]] = {
    "tenants.tenant": {"view": ADM, "add": None, "change": OWN, "delete": None, "actions": None},
    "tenants.membership": {"view": OWN, "add": OWN, "change": OWN, "delete": OWN, "actions": OWN},
    "tenants.apikey": {"view": OWN, "add": OWN, "change": OWN, "delete": None, "actions": OWN},
    "billing.stripeconnection": {
        "view": OWN,
        "add": OWN,
        "change": OWN,
        "delete": None,
        "actions": OWN,
    },
    "billing.stripeevent": {
        "view": OWN,
        "add": None,
        "change": None,
        "delete": None,
        "actions": OWN,
    },
    "offers.flowconfig": {"view": ADM, "add": None, "change": ADM, "delete": None, "actions": None},
    "webhooks.endpoint": {"view": ADM, "add": ADM, "change": ADM, "delete": ADM, "actions": ADM},
    "webhooks.event": {"view": VIEW, "add": None, "change": None, "delete": None, "actions": ADM},
    "webhooks.delivery": {
        "view": VIEW,
        "add": None,
        "change": None,
        "delete": None,
        "actions": ADM,
    },
    "audit.auditentry": {"view": ADM, "add": None, "change": None, "delete": None, "actions": ADM},
    "sessions_app.session": {
        "view": VIEW,
        "add": None,
        "change": None,
        "delete": None,
        "actions": None,
    },  # fmt: skip
    "hub.hubsession": {"view": VIEW, "add": None, "change": None, "delete": None, "actions": None},
    "hub.planchange": {"view": ADM, "add": ADM, "change": ADM, "delete": ADM, "actions": ADM},
    "experiments.experiment": {
        "view": VIEW,
        "add": OWN,
        "change": OWN,
        "delete": OWN,
        "actions": OWN,
    },
    "retention.save": {"view": VIEW, "add": None, "change": None, "delete": None, "actions": None},
}
SCOPED = sorted(
    model._meta.label_lower
    for model, model_admin in admin.site._registry.items()
    if isinstance(model_admin, TenantScopedAdminMixin)
)


def allowed(label: str, operation: str, role: str) -> bool:
    least = EXPECTED[label][operation]
    return least is not None and RANK[role] >= RANK[least]


def test_the_matrix_covers_every_workspace_model_admin():
    assert set(EXPECTED) == set(SCOPED)


@pytest.mark.parametrize("role", [VIEW, ADM, OWN])
@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_role_matrix(label, role, merchant_client, workspace_a):
    client = merchant_client(workspace_a, role)
    obj = BUILDERS[label](workspace_a).obj
    model_admin = next(
        ma for model, ma in admin.site._registry.items() if model._meta.label_lower == label
    )
    listing = changelist_url(obj)
    may_view = allowed(label, "view", role) or allowed(label, "change", role)

    response = client.get(listing)
    assert response.status_code == (200 if may_view else 403), "list"
    assert client.get(change_url(obj)).status_code == (200 if may_view else 403), "open"
    index = client.get("/admin/").content.decode()
    assert (listing in index) is may_view, "shown on the index"

    add = client.get(listing + "add/")
    assert add.status_code == (200 if allowed(label, "add", role) else 403), "add"

    if may_view:
        editable = 'name="_save"' in client.get(change_url(obj)).content.decode()
        assert editable is allowed(label, "change", role), "change"
        own_actions = [name for name in model_admin.actions if name != "delete_selected"]
        page = response.content.decode()
        for name in own_actions:
            assert (f'value="{name}"' in page) is allowed(label, "actions", role), name
        deletable_in_bulk = 'value="delete_selected"' in page
        assert deletable_in_bulk is allowed(label, "delete", role), "delete_selected"
    else:
        assert client.post(change_url(obj), {}).status_code == 403, "change"

    delete = client.get(change_url(obj, "delete"))
    assert delete.status_code == (200 if allowed(label, "delete", role) else 403), "delete"
