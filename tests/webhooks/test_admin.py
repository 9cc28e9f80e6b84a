"""Webhooks in admin: a secret shown once, rotation, resends, and the read-only logs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from mrrx.crypto import decrypt
from tests.factories import UserFactory
from webhooks.models import Delivery, Endpoint
from webhooks.services import delivery_attempt, endpoint_create

from .conftest import Reply, emit_one

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_superuser=True))
    return client


def _add(admin_client, tenant, **fields):
    data = {
        "tenant": tenant.pk,
        "url": "https://hooks.example.com/mrrx",
        "description": "CRM",
        "event_types": ["session.completed", "subscription.canceled"],
        **fields,
    }
    return admin_client.post(reverse("admin:webhooks_endpoint_add"), data)


def test_creating_an_endpoint_shows_its_secret_once(admin_client, tenant):
    response = _add(admin_client, tenant)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [shown] = set(SECRET.findall(response.content.decode()))
    endpoint = Endpoint.objects.get()
    assert decrypt(endpoint.secret_encrypted) == shown
    assert endpoint.event_types == ["session.completed", "subscription.canceled"]
    assert "messages" not in response.cookies

    change = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert change.status_code == 200
    assert shown not in change.content.decode()
    assert not SECRET.search(change.content.decode())
    assert shown not in str(admin_client.session.items())


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"livemode": "on", "url": "http://hooks.example.com/x"}, "must use an https://"),
        ({"url": "ftp://hooks.example.com/x"}, "valid http:// or https:// URL"),
        ({"event_types": ["session.exploded"]}, "Select a valid choice"),
    ],
)
def test_bad_endpoint_input_in_admin_is_shown_and_creates_nothing(
    admin_client, tenant, fields, error
):
    response = _add(admin_client, tenant, **fields)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not SECRET.search(response.content.decode())
    assert not Endpoint.objects.exists()


def test_rotating_shows_a_new_secret_once(admin_client, tenant):
    endpoint, old = endpoint_create(tenant=tenant, livemode=False, url="https://h.example.com/")
    url = reverse("admin:webhooks_endpoint_rotate_secret", args=[endpoint.pk])

    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and not SECRET.search(confirm.content.decode())
    response = admin_client.post(url)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [new] = set(SECRET.findall(response.content.decode()))
    assert new != old
    endpoint.refresh_from_db()
    assert decrypt(endpoint.secret_encrypted) == new
    assert decrypt(endpoint.previous_secret_encrypted) == old
    change = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert "previous secret also signs until" in change.content.decode()
    assert not SECRET.search(change.content.decode())


def test_resend_event_action_queues_deliveries(admin_client, tenant, receiver, make_endpoint):
    make_endpoint(tenant)
    receiver.reply("/hook", Reply(status=410))
    delivery = emit_one(tenant)
    delivery_attempt(delivery_id=delivery.pk)  # fails and disables the endpoint
    Endpoint.objects.update(enabled=True, disabled_at=None)

    response = admin_client.post(
        reverse("admin:webhooks_event_changelist"),
        {"action": "resend_events", "_selected_action": [delivery.event_id]},
    )

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_resend_failed_since_asks_for_a_time_then_requeues(
    admin_client, tenant, make_endpoint, clock
):
    endpoint, _ = make_endpoint(tenant)
    delivery = emit_one(tenant)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    changelist = reverse("admin:webhooks_endpoint_changelist")

    ask = admin_client.post(
        changelist, {"action": "resend_failed_since", "_selected_action": [endpoint.pk]}
    )
    assert ask.status_code == 200
    assert 'name="since_0"' in ask.content.decode()
    assert Delivery.objects.get().status == "failed"

    since = clock.now.replace(hour=0, minute=0, second=0)
    done = admin_client.post(
        changelist,
        {
            "action": "resend_failed_since",
            "_selected_action": [endpoint.pk],
            "apply": "Resend",
            "since_0": since.strftime("%Y-%m-%d"),
            "since_1": since.strftime("%H:%M:%S"),
        },
    )
    assert done.status_code == 302
    assert Delivery.objects.get().status == "pending"


def test_resend_failed_from_the_endpoint_page(admin_client, tenant, make_endpoint, clock):
    endpoint, _ = make_endpoint(tenant)
    delivery = emit_one(tenant)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    url = reverse("admin:webhooks_endpoint_resend_failed", args=[endpoint.pk])

    assert admin_client.get(url).status_code == 200
    since = clock.now.replace(hour=0, minute=0, second=0)
    response = admin_client.post(
        url,
        {"apply": "Resend", "since_0": since.strftime("%Y-%m-%d"), "since_1": "00:00:00"},
    )

    assert response.status_code == 302
    assert Delivery.objects.get().status == "pending"


def test_disable_and_enable_actions(admin_client, tenant, make_endpoint):
    endpoint, _ = make_endpoint(tenant)
    changelist = reverse("admin:webhooks_endpoint_changelist")

    admin_client.post(
        changelist, {"action": "disable_endpoints", "_selected_action": [endpoint.pk]}
    )
    endpoint.refresh_from_db()
    assert endpoint.enabled is False and "in admin" in endpoint.disabled_reason

    admin_client.post(changelist, {"action": "enable_endpoints", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.enabled is True


def test_events_and_deliveries_are_read_only_with_their_log(
    admin_client, tenant, receiver, make_endpoint
):
    make_endpoint(tenant)
    delivery = emit_one(tenant)
    delivery_attempt(delivery_id=delivery.pk)

    event_page = admin_client.get(reverse("admin:webhooks_event_change", args=[delivery.event_id]))
    delivery_page = admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))

    assert event_page.status_code == 200
    assert delivery.pk in event_page.content.decode()
    assert "ses_test123" in event_page.content.decode()
    assert delivery_page.status_code == 200
    assert "X-MRRX-Signature" in delivery_page.content.decode()
    assert admin_client.get(reverse("admin:webhooks_event_add")).status_code == 403
    for name in ("event", "delivery", "endpoint"):
        assert admin_client.get(reverse(f"admin:webhooks_{name}_changelist")).status_code == 200
