"""What the log records, by whom and from where: admin pages, credentials, Stripe, the flow
configuration, resends, and every step a subscriber takes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from audit.services import audit_record
from billing.gateway import StripeGatewayError
from billing.models import StripeConnection
from mrrx.crypto import encrypt
from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_create, offer_delete, offer_update
from sessions_app import execution
from sessions_app.models import Session
from tenants.models import ApiKey
from tenants.services import apikey_issue, apikey_revoke
from tests.billing.conftest import MERCHANT_KEY
from tests.dashboard.conftest import change_url, changelist_url
from tests.sessions.conftest import FlowClient
from webhooks.models import Endpoint, Event
from webhooks.services import endpoint_create, endpoint_disable

from .conftest import actions, entries, everything_recorded, on_postgresql

pytestmark = pytest.mark.django_db

BROWSER = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": "Mozilla/5.0 (Audit Test)"}
FERNET = re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}")


def _in_admin(merchant_client, tenant, role):  # type: ignore[no-untyped-def]
    client = merchant_client(tenant, role)
    client.defaults.update(BROWSER)
    return client


def _by(client, entry: AuditEntry) -> None:  # type: ignore[no-untyped-def]
    """The entry names the signed-in person and their network, not their address."""
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == (
        "user",
        str(client.user.pk),
        client.user.username,
    )
    assert (entry.ip, entry.user_agent) == ("198.51.100.0", "Mozilla/5.0 (Audit Test)")


# --- Admin pages -------------------------------------------------------------------------------


def test_an_admin_change_records_each_changed_field_before_and_after(merchant_client, workspace_a):
    endpoint, _ = endpoint_create(
        tenant=workspace_a, livemode=False, url="https://old.example.com/hook", description="CRM"
    )
    client = _in_admin(merchant_client, workspace_a, "admin")

    response = client.post(
        change_url(endpoint),
        {
            "url": "https://new.example.com/hook",
            "description": "CRM v2",
            "event_types": ["session.completed"],
        },
    )

    assert response.status_code == 302, response.content[:2000]
    [entry] = entries(action="admin.changed")
    _by(client, entry)
    assert (entry.tenant_id, entry.livemode) == (workspace_a.pk, False)
    assert (entry.object_type, entry.object_id) == ("webhooks.endpoint", endpoint.pk)
    assert entry.object_repr == str(Endpoint.objects.get(pk=endpoint.pk))
    fields = entry.changes["fields"]
    assert fields["url"] == {
        "before": "https://old.example.com/hook",
        "after": "https://new.example.com/hook",
    }
    assert fields["description"] == {"before": "CRM", "after": "CRM v2"}
    assert fields["event_types"] == {"before": [], "after": ["session.completed"]}
    assert set(fields) == {"url", "description", "event_types", "updated_at"}
    # And admin's own words, as its history page shows them.
    assert entry.changes["message"] == [
        {"changed": {"fields": ["URL", "Description", "event_types"]}}
    ]


def test_a_secret_changed_in_admin_is_recorded_masked(merchant_client, workspace_a):
    connection = StripeConnection.objects.create(
        tenant=workspace_a,
        livemode=False,
        method=StripeConnection.Method.KEY,
        encrypted_key=encrypt("rk_test_0123456789abcdef"),
        key_kind="rk",
        key_last4="cdef",
    )
    client = _in_admin(merchant_client, workspace_a, "owner")

    response = client.post(change_url(connection), {"webhook_secret": "whsec_brandnewsecret42"})

    assert response.status_code == 302, response.content[:2000]
    [changed] = entries(action="admin.changed")
    _by(client, changed)
    assert changed.changes["fields"] == {
        "encrypted_webhook_secret": {"before": "", "after": "[REDACTED]"}
    }
    [replaced] = entries(action="stripe.webhook_secret_replaced")
    _by(client, replaced)
    assert (replaced.object_id, replaced.changes) == (connection.pk, {})
    log = everything_recorded()
    assert "whsec_brandnewsecret42" not in log and not FERNET.search(log)
    assert "rk_test_0123456789abcdef" not in log


def test_adding_and_deleting_in_admin_are_recorded_with_the_issued_secret_kept_out(
    merchant_client, workspace_a
):
    client = _in_admin(merchant_client, workspace_a, "admin")
    added = client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"tenant": workspace_a.pk, "url": "https://hooks.example.com/a", "event_types": []},
    )
    assert added.status_code == 200
    [shown] = set(re.findall(r"whsec_[A-Za-z0-9+/=]+", added.content.decode()))
    endpoint = Endpoint.objects.get()

    assert actions() == ["webhook_secret.issued", "admin.added"]
    issued, admin_added = entries()
    for entry in (issued, admin_added):
        _by(client, entry)
        assert (entry.object_id, entry.tenant_id) == (endpoint.pk, workspace_a.pk)
    assert issued.changes == {"url": "https://hooks.example.com/a"}
    fields = admin_added.changes["fields"]
    assert fields["url"] == {"before": None, "after": "https://hooks.example.com/a"}
    assert fields["secret_encrypted"] == {"before": None, "after": "[REDACTED]"}

    deleted = client.post(change_url(endpoint, "delete"), {"post": "yes"})
    assert deleted.status_code == 302
    [entry] = entries(action="admin.deleted")
    _by(client, entry)
    assert entry.object_id == endpoint.pk and entry.object_repr
    url = entry.changes["fields"]["url"]
    assert url == {"before": "https://hooks.example.com/a", "after": None}
    assert entry.changes["fields"]["secret_encrypted"]["before"] == "[REDACTED]"
    assert shown not in everything_recorded()


def test_a_bulk_delete_records_each_object(merchant_client, workspace_a):
    made = [
        endpoint_create(tenant=workspace_a, livemode=False, url=f"https://h{n}.example.com/")[0]
        for n in range(2)
    ]
    client = _in_admin(merchant_client, workspace_a, "admin")
    client.post(
        changelist_url(Endpoint),
        {"action": "delete_selected", "_selected_action": [e.pk for e in made], "post": "yes"},
    )
    assert not Endpoint.objects.exists()
    assert {e.object_id for e in entries(action="admin.deleted")} == {e.pk for e in made}


# --- API keys and webhook signing secrets ------------------------------------------------------


def test_keys_issued_and_revoked_in_admin_name_the_person_and_never_the_key(
    merchant_client, workspace_a
):
    client = _in_admin(merchant_client, workspace_a, "owner")
    response = client.post(
        reverse("admin:tenants_apikey_add"),
        {"tenant": workspace_a.pk, "name": "CI", "livemode": "", "scopes": '["sessions:read"]'},
    )
    plaintext = re.search(r"mrrx_test_[0-9A-Za-z]{40}", response.content.decode()).group(0)
    key = ApiKey.objects.get(name="CI")

    [issued] = entries(action="api_key.issued")
    _by(client, issued)
    assert (issued.object_id, issued.tenant_id, issued.livemode) == (key.pk, workspace_a.pk, False)
    assert issued.changes == {"name": "CI", "scopes": ["sessions:read"], "expires_at": None}
    [added] = entries(action="admin.added", object_id=key.pk)
    assert added.changes["fields"]["hashed_key"]["after"] == "[REDACTED]"

    client.post(changelist_url(ApiKey), {"action": "revoke_keys", "_selected_action": [key.pk]})
    [revoked] = entries(action="api_key.revoked")
    _by(client, revoked)
    assert revoked.object_id == key.pk
    log = everything_recorded()
    assert plaintext not in log and key.hashed_key not in log


def test_a_key_revoked_twice_is_recorded_once(workspace_a):
    key, _ = apikey_issue(tenant=workspace_a, livemode=True)
    apikey_revoke(api_key=key)
    apikey_revoke(api_key=ApiKey.objects.get(pk=key.pk))
    [entry] = entries(action="api_key.revoked")
    assert (entry.actor_kind, entry.actor_label, entry.livemode) == ("system", "system", True)


def test_rotating_a_signing_secret_is_recorded_without_either_secret(merchant_client, workspace_a):
    endpoint, old = endpoint_create(
        tenant=workspace_a, livemode=False, url="https://h.example.com/"
    )
    client = _in_admin(merchant_client, workspace_a, "admin")

    response = client.post(reverse("admin:webhooks_endpoint_rotate_secret", args=[endpoint.pk]))

    [new] = set(re.findall(r"whsec_[A-Za-z0-9+/=]+", response.content.decode()))
    [entry] = entries(action="webhook_secret.rotated")
    _by(client, entry)
    assert entry.object_id == endpoint.pk
    endpoint.refresh_from_db()
    assert entry.changes == {
        "previous_signs_until": DjangoJSONEncoder().default(endpoint.previous_secret_expires_at)
    }
    log = everything_recorded()
    assert old not in log and new not in log and not FERNET.search(log)


# --- Stripe connections ------------------------------------------------------------------------


def test_connecting_replacing_and_disconnecting_stripe_are_recorded(
    merchant_client, workspace_a, emulator
):
    client = _in_admin(merchant_client, workspace_a, "owner")
    add = reverse("admin:billing_stripeconnection_add")
    form = {"tenant": workspace_a.pk, "mode": "test", "webhook_secret": ""}
    assert client.post(add, {**form, "key": MERCHANT_KEY}).status_code == 302
    replacement = "rk_test_replacement_restricted_key_5678"
    assert client.post(add, {**form, "key": replacement}).status_code == 302
    connection = StripeConnection.objects.get()
    client.post(
        changelist_url(StripeConnection),
        {"action": "disconnect", "_selected_action": [connection.pk]},
    )

    assert not StripeConnection.objects.exists()
    assert actions() == ["stripe.connected", "stripe.key_replaced", "stripe.disconnected"]
    connected, replaced, disconnected = entries()
    for entry in (connected, replaced, disconnected):
        _by(client, entry)
        assert (entry.object_id, entry.tenant_id, entry.livemode) == (
            connection.pk,
            workspace_a.pk,
            False,
        )
    assert connected.changes == {"method": "key", "last4": MERCHANT_KEY[-4:]}
    assert replaced.changes == {"method": "key", "last4": "5678"}
    assert disconnected.changes == {"method": "key", "account_id": ""}
    log = everything_recorded()
    assert MERCHANT_KEY not in log and replacement not in log and not FERNET.search(log)


# --- Flow configuration and offers -------------------------------------------------------------


def test_flow_configuration_and_offer_edits_are_recorded_before_and_after(workspace_a):
    config = flow_config_get(tenant=workspace_a, livemode=False)
    was_asking, cooldown = config.ask_feedback, config.discount_cooldown_months

    flow_config_update(
        config=config, ask_feedback=not was_asking, discount_cooldown_months=cooldown + 1
    )
    offer = offer_create(
        config=config, reason="other", action="pause", params={"months_options": [1]}
    )
    offer_update(offer=offer, enabled=False)
    offer_delete(offer=offer)

    assert actions() == ["flow_config.changed", "offer.added", "offer.changed", "offer.deleted"]
    changed, added, updated, deleted = entries()
    assert changed.object_id == str(config.pk)
    assert changed.changes == {
        "ask_feedback": {"before": was_asking, "after": not was_asking},
        "discount_cooldown_months": {"before": cooldown, "after": cooldown + 1},
    }
    assert added.changes["action"] == {"before": None, "after": "pause"}
    assert added.changes["enabled"] == {"before": None, "after": True}
    assert updated.changes == {"enabled": {"before": True, "after": False}}
    assert deleted.changes["reason"] == {"before": "other", "after": None}
    for entry in (changed, added, updated, deleted):
        assert (entry.tenant_id, entry.livemode, entry.actor_kind) == (
            workspace_a.pk,
            False,
            "system",
        )


# --- Resends -----------------------------------------------------------------------------------


def test_resends_from_admin_are_recorded(merchant_client, workspace_a):
    endpoint, _ = endpoint_create(tenant=workspace_a, livemode=False, url="https://h.example.com/")
    event = Event.objects.create(
        tenant=workspace_a, livemode=False, type="session.completed", body="{}"
    )
    client = _in_admin(merchant_client, workspace_a, "admin")

    client.post(changelist_url(Event), {"action": "resend_events", "_selected_action": [event.pk]})
    client.post(
        changelist_url(Endpoint),
        {
            "action": "resend_failed_since",
            "_selected_action": [endpoint.pk],
            "apply": "1",
            "since_0": "2024-01-01",
            "since_1": "00:00:00",
        },
    )

    [event_resent] = entries(action="webhook.event_resent")
    _by(client, event_resent)
    assert (event_resent.object_id, event_resent.tenant_id) == (event.pk, workspace_a.pk)
    assert event_resent.changes == {
        "deliveries": list(event.deliveries.values_list("pk", flat=True))
    }
    [failed_resent] = entries(action="webhook.failed_resent")
    _by(client, failed_resent)
    assert failed_resent.object_id == endpoint.pk
    assert failed_resent.changes == {"since": "2024-01-01T00:00:00Z", "deliveries": 0}


# --- A subscriber's steps ----------------------------------------------------------------------


def _subscriber_steps(session_id: str, *, ip: str, user_agent: str) -> list[AuditEntry]:
    steps = entries(object_id=session_id)
    session = Session.objects.get(pk=session_id)
    for entry in steps:
        assert (entry.object_type, entry.tenant_id, entry.livemode) == (
            "sessions_app.session",
            session.tenant_id,
            False,
        )
    by_subscriber = [e for e in steps if e.actor_kind == "subscriber"]
    for entry in by_subscriber:
        assert (entry.actor_id, entry.actor_label) == (session.customer_id, session.customer_id)
        assert (entry.ip, entry.user_agent) == (ip, user_agent)
    return steps


def test_each_hosted_flow_step_is_recorded_with_the_subscribers_ipv4_network(shop, emulator):
    body = shop.create(return_url="https://app.example.com/account").json()
    session_id, path = body["id"], urlsplit(body["url"]).path
    browser = FlowClient(REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="Mozilla/5.0 (iPhone)")

    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "not_using_enough"})
    browser.post(path, {"step": "offer", "action": "pause", "pause_months": "2"})
    browser.post(path, {"step": "feedback", "feedback": "Taking a break"})
    browser.post(path, {"step": "confirm"})
    execution.session_execute(session_id=session_id)  # what the worker runs

    steps = _subscriber_steps(session_id, ip="203.0.113.0", user_agent="Mozilla/5.0 (iPhone)")
    assert [e.action for e in steps] == [
        "session.viewed",
        "session.offer_shown",
        "session.action_selected",
        "session.survey_completed",
        "session.executing",
        "session.completed",
    ]
    assert [e.actor_kind for e in steps] == ["subscriber"] * 5 + ["system"]
    viewed, shown, chosen, surveyed, confirmed, executed = steps
    assert viewed.changes == {}
    assert shown.changes["survey_reason"] == "not_using_enough"
    assert any(o["action"] == "pause" and o["shown"] for o in shown.changes["offers_considered"])
    assert chosen.changes["selected_action"] == "pause"
    assert chosen.changes["action_params"] == {"months": 2, "days": 60}
    assert surveyed.changes["survey_feedback"] == "Taking a break"
    assert confirmed.changes == {"execution_attempts": 1}
    # The worker acts for no one's browser.
    assert (executed.actor_label, executed.ip, executed.user_agent) == ("system", None, "")
    assert executed.changes == {"outcome_action": "pause"}


def test_flow_api_steps_are_recorded_with_the_subscribers_ipv6_network(shop, emulator):
    body = shop.create(return_url="https://app.example.com/account").json()
    session_id = body["id"]
    app = APIClient(REMOTE_ADDR="2001:db8:abcd:12::1", HTTP_USER_AGENT="ShopApp/2.1 (Android)")
    app.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")

    assert app.get("/api/v1/flow").status_code == 200
    survey = app.post("/api/v1/flow/survey", {"reason": "too_expensive"}, format="json")
    assert survey.status_code == 200, survey.content
    done = app.post("/api/v1/flow/execute", {"action": "cancel"}, format="json")
    assert done.status_code == 202, done.content

    steps = _subscriber_steps(session_id, ip="2001:db8:abcd::", user_agent="ShopApp/2.1 (Android)")
    assert [e.action for e in steps[:2]] == ["session.viewed", "session.offer_shown"]
    assert steps[-1].action == "session.executing"
    assert {e.actor_kind for e in steps} == {"subscriber"}
    chosen = [e for e in steps if "selected_action" in e.changes]
    assert chosen and chosen[0].changes["selected_action"] == "cancel"


def test_a_failed_action_is_recorded_as_the_systems(shop):
    session_id = shop.create().json()["id"]
    Session.objects.filter(pk=session_id).update(status="executing")
    session = Session.objects.select_related("tenant").get(pk=session_id)

    execution.session_fail(
        session=session, error=StripeGatewayError("stripe_error", "Your card was declined.")
    )

    [entry] = entries(action="session.failed")
    assert (entry.object_id, entry.actor_kind, entry.ip) == (session_id, "system", None)
    assert entry.changes["failure"]["code"] == "stripe_error"
    assert entry.changes["failure"]["message"] == "Your card was declined."


def test_an_api_key_acting_is_named_by_its_prefix(shop, emulator):
    response = shop.client.client.post(
        f"/api/v1/subscriptions/{shop.seeded.subscription_id}/cancel",
        {"reason": "too_expensive"},
        format="json",
        REMOTE_ADDR="192.0.2.200",
        HTTP_USER_AGENT="merchant-backend/1.0",
    )
    assert response.status_code == 200, response.content

    [entry] = entries(action="session.completed")
    key = shop.client.api_key
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("api_key", key.pk, key.prefix)
    assert (entry.ip, entry.user_agent) == ("192.0.2.0", "merchant-backend/1.0")
    assert shop.client.plaintext not in everything_recorded()


# --- The entry and its change ------------------------------------------------------------------


def test_an_entry_is_undone_with_the_change_it_records(workspace_a):
    key, _ = apikey_issue(tenant=workspace_a, livemode=False)
    with pytest.raises(RuntimeError), transaction.atomic():
        apikey_revoke(api_key=key)
        assert actions(action="api_key.revoked") == ["api_key.revoked"]
        raise RuntimeError("the change fails after the entry was written")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert actions(action="api_key.revoked") == []


class _Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text for this")


def test_an_entry_that_cannot_be_written_leaves_the_change_alone(workspace_a, caplog):
    key, _ = apikey_issue(tenant=workspace_a, livemode=False)
    with transaction.atomic():
        entry = audit_record(action="api_key.revoked", target=key, changes={"odd": _Unprintable()})
        apikey_revoke(api_key=key)
    assert entry is None and "Could not write the audit entry" in caplog.text
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert actions(action="api_key.revoked") == ["api_key.revoked"]


@on_postgresql  # only PostgreSQL refuses a NUL character in JSON
def test_an_entry_the_database_refuses_keeps_the_callers_transaction_usable(workspace_a):
    key, _ = apikey_issue(tenant=workspace_a, livemode=False)
    with transaction.atomic():
        assert audit_record(action="api_key.revoked", target=key, changes={"n": "\x00"}) is None
        apikey_revoke(api_key=key)  # would fail in an aborted transaction
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert actions(action="api_key.revoked") == ["api_key.revoked"]


def test_the_hosted_flow_goes_on_when_the_log_refuses_entries(shop, monkeypatch):
    def refuse(**fields):  # type: ignore[no-untyped-def]
        raise DatabaseError("the audit table is unavailable")

    monkeypatch.setattr(AuditEntry.objects, "create", refuse)
    body = shop.create().json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    assert browser.get(path).status_code == 200
    assert browser.post(path, {"step": "reason", "reason": "too_expensive"}).status_code == 302
    assert Session.objects.get(pk=body["id"]).status == "offer_shown"
    assert not AuditEntry.objects.filter(object_type="sessions_app.session").exists()


def test_endpoints_disabled_and_enabled_in_admin_are_recorded(merchant_client, workspace_a):
    endpoint, _ = endpoint_create(tenant=workspace_a, livemode=False, url="https://h.example.com/")
    client = _in_admin(merchant_client, workspace_a, "admin")
    for action in ("disable_endpoints", "enable_endpoints"):
        client.post(changelist_url(Endpoint), {"action": action, "_selected_action": [endpoint.pk]})

    disabled, enabled = entries(object_id=endpoint.pk, action__startswith="webhook_endpoint.")
    assert (disabled.action, enabled.action) == (
        "webhook_endpoint.disabled",
        "webhook_endpoint.enabled",
    )
    _by(client, disabled)
    _by(client, enabled)
    assert disabled.changes == {"reason": f"Disabled by {client.user} in admin."}


def test_an_endpoint_mrrx_disables_after_failures_is_the_systems_doing(workspace_a):
    endpoint, _ = endpoint_create(tenant=workspace_a, livemode=False, url="https://h.example.com/")
    endpoint_disable(endpoint=endpoint, reason="Every attempt failed for 5 days.")
    endpoint_disable(endpoint=endpoint, reason="again")  # already disabled: nothing new
    [entry] = entries(action="webhook_endpoint.disabled")
    assert (entry.actor_kind, entry.ip) == ("system", None)
    assert entry.changes == {"reason": "Every attempt failed for 5 days."}
