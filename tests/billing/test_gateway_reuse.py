"""A process reuses the gateway it made for a workspace, as it does the API key that named
it (API_KEY_CACHE_SECONDS, off in the other tests), and reads a connection changed in the
process afresh at once."""

from __future__ import annotations

import pytest
from django.test.utils import CaptureQueriesContext

from billing.gateway import StripeNotConnected, gateway_for
from billing.gateway.connections import gateways_forget
from billing.models import StripeConnection
from billing.services import stripe_connection_disconnect
from mrrx.crypto import encrypt

pytestmark = pytest.mark.django_db


@pytest.fixture
def reused(settings):  # type: ignore[no-untyped-def]
    settings.API_KEY_CACHE_SECONDS = 60
    gateways_forget()
    yield
    gateways_forget()


def _connect(tenant, key: str = "rk_test_first_key_0000") -> StripeConnection:  # type: ignore[no-untyped-def]
    return StripeConnection.objects.create(
        tenant=tenant, livemode=False, method="key", encrypted_key=encrypt(key), key_kind="rk"
    )


def _connection_reads(queries) -> list[str]:  # type: ignore[no-untyped-def]
    return [q["sql"] for q in queries if "billing_stripeconnection" in q["sql"]]


def test_the_gateway_is_made_once_and_reused(tenant, reused):
    from django.db import connection

    _connect(tenant)
    first = gateway_for(tenant=tenant, livemode=False)
    with CaptureQueriesContext(connection) as queries:
        again = gateway_for(tenant=tenant, livemode=False)
    assert again is first
    assert _connection_reads(queries) == []
    with pytest.raises(StripeNotConnected):
        gateway_for(tenant=tenant, livemode=True)  # the other mode is its own


def test_a_connection_replaced_or_removed_here_is_read_afresh(tenant, reused):
    connection = _connect(tenant)
    first = gateway_for(tenant=tenant, livemode=False)

    connection.encrypted_key = encrypt("rk_test_second_key_000")
    connection.save()
    assert gateway_for(tenant=tenant, livemode=False) is not first

    stripe_connection_disconnect(connection=StripeConnection.objects.get(pk=connection.pk))
    with pytest.raises(StripeNotConnected):
        gateway_for(tenant=tenant, livemode=False)
