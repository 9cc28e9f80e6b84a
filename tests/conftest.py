from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from tenants.models import ALL_SCOPES, ApiKey, Tenant
from tenants.services import apikey_issue

from .factories import TenantFactory


@dataclass
class KeyedClient:
    """An API client that sends one workspace's key."""

    client: APIClient
    tenant: Tenant
    api_key: ApiKey
    plaintext: str

    def get(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.get(path, **kwargs)

    def post(self, path: str, data=None, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("format", "json")
        return self.client.post(path, data, **kwargs)


@pytest.fixture
def tenant(db) -> Tenant:  # type: ignore[no-untyped-def]
    return TenantFactory()


@pytest.fixture
def other_tenant(db) -> Tenant:  # type: ignore[no-untyped-def]
    return TenantFactory()


@pytest.fixture
def make_client(db) -> Callable[..., KeyedClient]:  # type: ignore[no-untyped-def]
    def make(
        tenant: Tenant | None = None, *, livemode: bool = False, scopes=ALL_SCOPES, **key_fields
    ) -> KeyedClient:
        tenant = tenant or TenantFactory()
        api_key, plaintext = apikey_issue(
            tenant=tenant, livemode=livemode, scopes=scopes, **key_fields
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        return KeyedClient(client=client, tenant=tenant, api_key=api_key, plaintext=plaintext)

    return make


@pytest.fixture
def api(make_client, tenant) -> KeyedClient:  # type: ignore[no-untyped-def]
    """A test-mode client with every scope, for ``tenant``."""
    return make_client(tenant)
