from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenants.models import ApiKey, Tenant
from tests.billing.conftest import emulator  # noqa: F401
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_tenant_create_prints_working_live_and_test_keys():
    data = json.loads(_run("tenant_create", "Acme Inc", "--json"))
    tenant = Tenant.objects.get(pk=data["id"])
    assert tenant.name == "Acme Inc" and tenant.slug == "acme-inc"
    live = _client(data["live_key"]).get("/api/v1/workspace").json()
    test = _client(data["test_key"]).get("/api/v1/workspace").json()
    assert (live["id"], live["mode"]) == (tenant.pk, "live")
    assert (test["id"], test["mode"]) == (tenant.pk, "test")


def test_tenant_create_plain_output_names_the_workspace():
    out = _run("tenant_create", "Plain Co")
    assert "Plain Co" in out and "mrrx_live_" in out and "mrrx_test_" in out


def test_apikey_create_with_scopes_and_revoke_by_prefix(tenant):
    data = json.loads(
        _run(
            "apikey_create",
            "--tenant",
            tenant.pk,
            "--mode",
            "test",
            "--scopes",
            "sessions:read",
            "--json",
        )  # fmt: skip
    )
    assert data["scopes"] == ["sessions:read"]
    assert _client(data["key"]).get("/api/v1/workspace").status_code == 200
    revoked = json.loads(_run("apikey_revoke", data["prefix"], "--json"))
    assert revoked["revoked_at"]
    response = _client(data["key"]).get("/api/v1/workspace")
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_apikey_create_accepts_a_slug_and_an_expiry(tenant):
    data = json.loads(
        _run(
            "apikey_create",
            "--tenant",
            tenant.slug,
            "--mode",
            "live",
            "--expires-in-days",
            "30",
            "--json",
        )  # fmt: skip
    )
    assert data["key"].startswith("mrrx_live_") and data["expires_at"].endswith("Z")


def test_commands_refuse_unknown_workspace_and_prefix():
    with pytest.raises(CommandError):
        _run("apikey_create", "--tenant", "ws_nope", "--mode", "test")
    with pytest.raises(CommandError):
        _run("apikey_revoke", "mrrx_test_zzzzzzzz")
    assert ApiKey.objects.count() == 0


def test_demo_setup_key_works_and_rotates(emulator):
    first = json.loads(_run("demo_setup", "--json"))
    second = json.loads(_run("demo_setup", "--json"))
    # The demo subscriber's cancel link is the same open session both times.
    assert first["cancel_url"].startswith("http") and "/c/" in first["cancel_url"]
    assert first["subscription_id"] == second["subscription_id"]
    assert first["workspace"] == second["workspace"]
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert _client(second["test_key"]).get("/api/v1/workspace").json()["id"] == first["workspace"]
    # The earlier run's key was revoked when the new one was printed.
    assert _client(first["test_key"]).get("/api/v1/workspace").status_code == 401
