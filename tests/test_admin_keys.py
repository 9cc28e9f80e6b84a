from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_superuser("op", "op@example.com", "pw-op-12345")
    client.force_login(user)
    return client


def test_new_key_is_shown_once_then_never(operator, tenant):
    response = operator.post(
        "/admin/tenants/apikey/add/",
        {"tenant": tenant.pk, "name": "CI", "livemode": "", "scopes": '["sessions:read"]'},
    )
    assert response.status_code == 200
    shown = re.search(rb'value="(mrrx_test_[0-9A-Za-z]{40})"', response.content)
    assert shown, response.content[:2000]
    plaintext = shown.group(1).decode()
    key = ApiKey.objects.get(name="CI")
    assert key.scopes == ["sessions:read"] and key.created_by.username == "op"
    assert "no-store" in response["Cache-Control"]
    for page in ("/admin/tenants/apikey/", f"/admin/tenants/apikey/{key.pk}/change/"):
        assert plaintext.encode() not in operator.get(page).content
    api = operator.__class__()
    assert api.get("/api/v1/workspace", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200


def test_revoke_action_revokes(operator, make_client):
    keyed = make_client()
    operator.post(
        "/admin/tenants/apikey/",
        {"action": "revoke_keys", "_selected_action": [keyed.api_key.pk]},
    )
    assert keyed.get("/api/v1/workspace").status_code == 401


def test_workspace_created_in_admin(operator):
    response = operator.post(
        "/admin/tenants/tenant/add/",
        {
            "name": "Admin Made",
            "slug": "admin-made",
            "brand_color": "#112233",
            "return_url_allowlist": '["https://shop.example"]',
            "rate_limit_overrides": "{}",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    from tenants.models import Tenant

    assert Tenant.objects.get(slug="admin-made").return_url_allowlist == ["https://shop.example"]
