"""Workspace scoping, generated over every registered model admin.

A member of workspace A, whatever the page, never lists, opens, changes, deletes,
searches for, acts on or picks workspace B's objects. Models with no workspace are for
operators only. Each check is paired with the operator's view of the same page, so a
test cannot pass because the object was never there to be found.
"""

from __future__ import annotations

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from offers.models import Flow
from sessions_app.models import Session
from tenants.admin_scoping import OperatorOnlyAdminMixin, TenantScopedAdminMixin
from tenants.models import Tenant
from tenants.workspace import SESSION_KEY

from .conftest import BUILDERS, Built, change_url, changelist_url, rows_of

pytestmark = pytest.mark.django_db

REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)
SCOPED = [
    model._meta.label_lower for model, ma in REGISTRY if isinstance(ma, TenantScopedAdminMixin)
]
OPERATOR_ONLY = [
    model._meta.label_lower for model, ma in REGISTRY if isinstance(ma, OperatorOnlyAdminMixin)
]


def _admin_for(label: str) -> admin.ModelAdmin:
    return next(ma for model, ma in REGISTRY if model._meta.label_lower == label)


@pytest.fixture
def objects(workspace_a, workspace_b) -> dict[str, dict[str, Built]]:
    return {
        "a": {label: build(workspace_a) for label, build in BUILDERS.items()},
        "b": {label: build(workspace_b) for label, build in BUILDERS.items()},
    }


@pytest.fixture
def owner_a(merchant_client, workspace_a):
    return merchant_client(workspace_a, "owner")


def _snapshot(built: dict[str, Built]) -> dict[str, list]:
    return {label: rows_of(type(b.obj), b.obj.pk) for label, b in built.items()}


def test_every_model_admin_is_workspace_scoped_or_operator_only():
    for model, model_admin in REGISTRY:
        label = model._meta.label_lower
        assert isinstance(model_admin, TenantScopedAdminMixin | OperatorOnlyAdminMixin), label
        if isinstance(model_admin, TenantScopedAdminMixin):
            assert label in BUILDERS, f"add a builder for {label} in tests/dashboard/conftest.py"
    assert {"auth.user", "auth.group"} <= set(OPERATOR_ONLY)


@pytest.mark.parametrize("label", SCOPED)
def test_member_lists_and_finds_only_their_workspace(label, objects, owner_a, operator_client):
    a, b = objects["a"][label], objects["b"][label]
    listing = changelist_url(b.obj)

    operator_page = operator_client.get(listing).content.decode()
    assert change_url(b.obj) in operator_page and change_url(a.obj) in operator_page

    page = owner_a.get(listing)
    assert page.status_code == 200
    assert change_url(a.obj) in page.content.decode()
    assert change_url(b.obj) not in page.content.decode()

    # The raw-id and "add another" popups are the same list.
    popup = owner_a.get(listing, {"_popup": "1", "_to_field": "id"}).content.decode()
    assert change_url(a.obj) in popup and change_url(b.obj) not in popup

    assert change_url(b.obj) in operator_client.get(listing, {"q": b.term}).content.decode()
    found = owner_a.get(listing, {"q": b.term})
    assert found.status_code == 200
    assert change_url(b.obj) not in found.content.decode()


@pytest.mark.parametrize("label", SCOPED)
def test_other_workspace_object_urls_are_404(label, objects, owner_a, operator_client):
    a, b = objects["a"][label], objects["b"][label]
    before = _snapshot(objects["b"])
    assert operator_client.get(change_url(b.obj, "history")).status_code == 200
    assert owner_a.get(change_url(a.obj, "history")).status_code == 200

    for suffix in ("change", "history", "delete"):
        assert owner_a.get(change_url(b.obj, suffix)).status_code == 404, suffix
    assert owner_a.post(change_url(b.obj), {"name": "taken over"}).status_code == 404
    assert owner_a.post(change_url(b.obj, "delete"), {"post": "yes"}).status_code == 404
    assert _snapshot(objects["b"]) == before


@pytest.mark.parametrize("label", SCOPED)
def test_actions_never_reach_another_workspace(label, objects, owner_a):
    model_admin = _admin_for(label)
    b = objects["b"][label]
    before = _snapshot(objects["b"])
    names = [*model_admin.actions, "delete_selected"]
    for name in names:
        for extra in ({}, {"select_across": "1"}):
            owner_a.post(
                changelist_url(b.obj),
                {"action": name, "_selected_action": [b.obj.pk], "index": 0, **extra},
            )
            owner_a.post(
                changelist_url(b.obj),
                {"action": name, "_selected_action": [b.obj.pk], "post": "yes", **extra},
            )
    assert _snapshot(objects["b"]) == before


def _merchant_request(user, tenant: Tenant):  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/admin/")
    request.user = user
    request.session = SessionStore()
    request.session[SESSION_KEY] = tenant.pk
    return request


@pytest.mark.parametrize("label", SCOPED)
def test_pickers_offer_only_the_current_workspace(
    label, objects, owner_a, workspace_a, workspace_b
):
    model_admin = _admin_for(label)
    a = objects["a"][label]
    request = _merchant_request(owner_a.user, workspace_a)
    others = [workspace_b, *(built.obj for built in objects["b"].values())]
    # Rows that belong to another workspace's objects (its flow configuration's flows).
    others += list(Flow.objects.filter(config__tenant=workspace_b))

    form_classes = []
    if model_admin.has_add_permission(request):
        form_classes.append(model_admin.get_form(request, None))
    form_classes.append(model_admin.get_form(request, a.obj))
    for inline in model_admin.get_inline_instances(request, a.obj):
        form_classes.append(inline.get_formset(request, a.obj).form)

    checked = 0
    for form_class in form_classes:
        for name, field in form_class.base_fields.items():
            if not isinstance(field, forms.ModelChoiceField):
                continue
            for other in others:
                if isinstance(other, field.queryset.model):
                    checked += 1
                    assert not field.queryset.filter(pk=other.pk).exists(), (name, other)

    # The pages themselves (custom add views included) name nothing of workspace B.
    pages = [change_url(a.obj)]
    add = owner_a.get(changelist_url(a.obj) + "add/")
    if add.status_code == 200:
        pages.append(changelist_url(a.obj) + "add/")
    for page in pages:
        html = owner_a.get(page).content.decode()
        assert workspace_b.pk not in html and "Bravo Store" not in html, page
    if any(
        isinstance(f, forms.ModelChoiceField)
        for fc in form_classes
        for f in fc.base_fields.values()
    ):
        assert checked


def _autocomplete_fields() -> list[tuple[str, str, str]]:
    found = []
    for model, model_admin in REGISTRY:
        for field_name in model_admin.autocomplete_fields:
            found.append((model._meta.app_label, model._meta.model_name, field_name))
        for inline in model_admin.inlines:
            for field_name in inline.autocomplete_fields:
                found.append(
                    (inline.model._meta.app_label, inline.model._meta.model_name, field_name)
                )
    return sorted(set(found))


@pytest.mark.parametrize("app_label, model_name, field_name", _autocomplete_fields())
def test_autocomplete_never_offers_another_workspace(
    app_label, model_name, field_name, objects, owner_a, operator_client, workspace_b
):
    from django.apps import apps

    remote = apps.get_model(app_label, model_name)._meta.get_field(field_name).related_model
    remote_admin = admin.site._registry[remote]
    query = {"app_label": app_label, "model_name": model_name, "field_name": field_name}
    b_pk = str(
        workspace_b.pk if remote is Tenant else objects["b"]["tenants.membership"].obj.user_id
    )

    as_operator = operator_client.get("/admin/autocomplete/", query)
    assert b_pk in {row["id"] for row in as_operator.json()["results"]}

    response = owner_a.get("/admin/autocomplete/", query)
    if isinstance(remote_admin, OperatorOnlyAdminMixin):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert b_pk not in ids and ids  # their own workspace is offered, nobody else's


@pytest.mark.parametrize("label", OPERATOR_ONLY)
@pytest.mark.parametrize("role", ["owner", "admin", "viewer"])
def test_models_without_a_workspace_are_operators_only(
    label, role, merchant_client, workspace_a, operator_client
):
    client = merchant_client(workspace_a, role)
    model = next(model for model, _ in REGISTRY if model._meta.label_lower == label)
    listing = changelist_url(model)
    assert operator_client.get(listing).status_code == 200
    assert client.get(listing).status_code == 403
    assert client.get(listing + "add/").status_code == 403
    if model is get_user_model():
        assert client.get(change_url(client.user)).status_code == 403
    index = client.get("/admin/").content.decode()
    assert listing not in index


def test_a_member_of_two_workspaces_sees_one_at_a_time_and_switches(
    merchant_client, workspace_a, workspace_b, operator_client
):
    third = Tenant.objects.create(name="Charlie Co", slug="charlie")
    session_a = BUILDERS["sessions_app.session"](workspace_a).obj
    session_c = BUILDERS["sessions_app.session"](third).obj
    session_b = BUILDERS["sessions_app.session"](workspace_b).obj
    client = merchant_client(workspace_a, "viewer", also={third: "admin"})
    listing = changelist_url(Session)

    page = client.get(listing).content.decode()
    assert change_url(session_a) in page and change_url(session_c) not in page
    assert client.get(change_url(session_c)).status_code == 404
    assert 'id="workspace-switcher"' in client.get("/admin/").content.decode()
    assert client.get("/admin/offers/flowconfig/").status_code == 403  # a viewer in A

    switched = client.post("/admin/workspace/", {"workspace": third.pk, "next": listing})
    assert switched.status_code == 302
    page = client.get(listing).content.decode()
    assert change_url(session_c) in page and change_url(session_a) not in page
    assert client.get(change_url(session_a)).status_code == 404
    # The role is the one held in the current workspace: admin here, so flows are editable.
    assert client.get("/admin/offers/flowconfig/").status_code == 200

    assert client.post("/admin/workspace/", {"workspace": workspace_b.pk}).status_code == 403
    assert change_url(session_b) not in client.get(listing).content.decode()


def test_operators_see_every_workspace(operator_client, workspace_a, workspace_b):
    sessions = [BUILDERS["sessions_app.session"](t).obj for t in (workspace_a, workspace_b)]
    page = operator_client.get(changelist_url(Session)).content.decode()
    assert all(change_url(s) in page for s in sessions)


def test_a_staff_user_without_a_workspace_sees_nothing(client, workspace_a):
    from tests.factories import UserFactory

    BUILDERS["sessions_app.session"](workspace_a)
    client.force_login(UserFactory())
    assert client.get(changelist_url(Session)).status_code == 403
    assert "not a member of any workspace" in client.get("/admin/").content.decode()
