from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tenants.models import ApiKey
from tenants.services import apikey_revoke

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def _all_text_in_database() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_key_plaintext_is_never_stored(make_client):
    client = make_client()
    assert client.get("/api/v1/workspace").status_code == 200
    stored = _all_text_in_database()
    assert client.plaintext not in stored
    # Not even the random part on its own.
    assert client.plaintext.split("_", 2)[2] not in stored
    assert client.api_key.prefix in stored


def test_key_format_is_prefixed_and_long(make_client):
    test_key = make_client().plaintext
    live_key = make_client(livemode=True).plaintext
    assert test_key.startswith("mrrx_test_") and len(test_key) >= len("mrrx_test_") + 32
    assert live_key.startswith("mrrx_live_")
    assert test_key[10:].isalnum()


def test_workspace_endpoint_describes_the_key(make_client, tenant):
    client = make_client(tenant, scopes=["sessions:read"])
    response = client.get("/api/v1/workspace")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == tenant.pk
    assert body["name"] == tenant.name
    assert body["mode"] == "test" and body["livemode"] is False
    assert body["scopes"] == ["sessions:read"]
    assert body["key"]["prefix"] == client.api_key.prefix


def test_v1_alias_serves_the_same_view(api):
    assert api.get("/v1/workspace").json() == api.get("/api/v1/workspace").json()


def test_live_key_reports_live_mode(make_client):
    body = make_client(livemode=True).get("/api/v1/workspace").json()
    assert body["mode"] == "live" and body["livemode"] is True


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer not-a-key",
        "Basic bXJyeDp4",
        "Bearer mrrx_test_short",
        "Bearer mrrx_prod_" + "a" * 40,
        "Bearer mrrx_test_" + "a" * 40,  # well formed, unknown
    ],
)
def test_missing_malformed_or_unknown_key_is_invalid_api_key(client, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/workspace", **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.json()["error"]["message"]


def test_revoked_key_is_invalid_api_key(make_client):
    client = make_client()
    apikey_revoke(api_key=client.api_key)
    response = client.get("/api/v1/workspace")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert "revoked" in response.json()["error"]["message"]


def test_expired_key_is_expired_api_key(make_client):
    client = make_client(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/workspace")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "expired_api_key"


def test_key_not_yet_expired_works(make_client):
    client = make_client(expires_at=timezone.now() + timedelta(hours=1))
    assert client.get("/api/v1/workspace").status_code == 200


@pytest.mark.urls("tests.api_test_urls")
def test_key_without_scope_gets_403(make_client):
    client = make_client(scopes=["sessions:read"])
    response = client.post("/api/v1/things", {"name": "x"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "insufficient_permissions"
    assert error["details"]["missing_scopes"] == ["sessions:write"]
    assert ApiKey.objects.filter(name="x").count() == 0


@pytest.mark.urls("tests.api_test_urls")
def test_test_key_never_sees_live_objects(make_client, tenant):
    live = make_client(tenant, livemode=True)
    test = make_client(tenant, livemode=False)
    live_id = live.post("/api/v1/things", {"name": "live thing"}).json()["id"]
    test_ids = [row["id"] for row in test.get("/api/v1/things/list?limit=100").json()["data"]]
    assert live_id not in test_ids
    assert all(ApiKey.objects.get(pk=i).livemode is False for i in test_ids)


@pytest.mark.urls("tests.api_test_urls")
def test_other_workspace_objects_are_invisible(make_client, tenant, other_tenant):
    mine = make_client(tenant)
    theirs = make_client(other_tenant)
    their_id = theirs.post("/api/v1/things", {"name": "theirs"}).json()["id"]
    ids = [row["id"] for row in mine.get("/api/v1/things/list?limit=100").json()["data"]]
    assert their_id not in ids


def test_last_used_at_is_written_at_most_once_a_minute(make_client, django_assert_num_queries):
    client = make_client()
    client.get("/api/v1/workspace")
    first = ApiKey.objects.get(pk=client.api_key.pk).last_used_at
    assert first is not None
    client.get("/api/v1/workspace")
    assert ApiKey.objects.get(pk=client.api_key.pk).last_used_at == first
    ApiKey.objects.filter(pk=client.api_key.pk).update(last_used_at=first - timedelta(minutes=5))
    client.get("/api/v1/workspace")
    assert ApiKey.objects.get(pk=client.api_key.pk).last_used_at > first


@pytest.fixture
def reused_keys(settings):  # type: ignore[no-untyped-def]
    """The product's reuse of API keys read lately (tests/settings.py turns it off)."""
    from tenants.services import apikey_cache_clear

    settings.API_KEY_CACHE_SECONDS = 60
    apikey_cache_clear()
    yield
    apikey_cache_clear()


def test_a_process_reuses_a_key_it_read_without_asking_the_database(make_client, reused_keys):
    from django.test.utils import CaptureQueriesContext

    client = make_client()
    assert client.get("/api/v1/workspace").status_code == 200

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/workspace")
    assert response.status_code == 200
    assert response.json()["id"] == client.tenant.pk
    assert not [q["sql"] for q in queries if "tenants_apikey" in q["sql"]]


def test_a_key_revoked_here_is_refused_at_once_though_reused(make_client, reused_keys):
    client = make_client()
    assert client.get("/api/v1/workspace").status_code == 200

    apikey_revoke(api_key=ApiKey.objects.get(pk=client.api_key.pk))

    response = client.get("/api/v1/workspace")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_workspace_saved_here_is_read_afresh_though_reused(make_client, reused_keys):
    client = make_client()
    assert client.get("/api/v1/workspace").status_code == 200
    tenant = client.tenant
    tenant.name = "Renamed"
    tenant.save()

    assert client.get("/api/v1/workspace").json()["name"] == "Renamed"


def test_a_key_read_is_read_again_once_its_time_is_up(make_client, reused_keys, settings):
    client = make_client()
    assert client.get("/api/v1/workspace").status_code == 200
    # Changed behind the process's back (another process, a console).
    ApiKey.objects.filter(pk=client.api_key.pk).update(revoked_at=timezone.now())
    assert client.get("/api/v1/workspace").status_code == 200

    settings.API_KEY_CACHE_SECONDS = 0
    assert client.get("/api/v1/workspace").status_code == 401
