"""The privacy API's edges: scope, input, workspaces and modes, unknown customers, replays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from mrrx.models import IdempotencyRecord
from sessions_app import receipts
from sessions_app.models import Receipt, Session
from tenants.models import DEFAULT_SCOPES
from tests.factories import TenantFactory
from webhooks.models import Event

from .conftest import EMAIL, FEEDBACK, METADATA

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_PrivacyApi01"
EXPORT_KEYS = [
    "object",
    "customer_id",
    "workspace_id",
    "livemode",
    "generated_at",
    "counts",
    "sessions",
    "custom_sessions",
    "hub_sessions",
    "receipts",
    "saves",
    "invoice_payments",
    "events",
    "stripe_events",
    "audit_entries",
]


def _session(tenant, *, livemode: bool = False, customer_id: str = CUSTOMER) -> Session:  # type: ignore[no-untyped-def]
    return Session.objects.create(
        tenant=tenant,
        livemode=livemode,
        customer_id=customer_id,
        subscription_id=f"sub_{Session.objects.count()}",
        status="completed",
        subscription_snapshot={"customer_email": EMAIL},
        metadata=METADATA,
        survey_reason="too_expensive",
        survey_feedback=FEEDBACK,
        outcome_action="cancel",
        price_amount=2900,
        price_currency="usd",
        expires_at=timezone.now() + timedelta(hours=1),
    )


def _export(client, customer_id: str = CUSTOMER, **kwargs):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/customers/{customer_id}/export", **kwargs)


def _erase(client, customer_id: str = CUSTOMER, **kwargs):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/customers/{customer_id}/erase", **kwargs)


@pytest.mark.parametrize("action", [_export, _erase])
def test_a_key_without_privacy_write_gets_403_and_changes_nothing(make_client, tenant, action):
    session = _session(tenant)
    client = make_client(tenant, scopes=list(DEFAULT_SCOPES))

    response = action(client)

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "insufficient_permissions"
    assert error["details"]["missing_scopes"] == ["privacy:write"]
    session.refresh_from_db()
    assert session.survey_feedback == FEEDBACK
    assert not AuditEntry.objects.filter(action__startswith="customer.").exists()


def test_new_keys_do_not_get_the_scope(make_client, tenant):
    from tenants.services import apikey_issue

    key, _ = apikey_issue(tenant=tenant, livemode=False)
    assert "privacy:write" not in key.scopes


@pytest.mark.parametrize("action", [_export, _erase])
@pytest.mark.parametrize(
    ("customer_id", "body"),
    [
        ("cus_ok", {"customer_id": "cus_ok"}),  # no fields are taken
        ("cus_ok", ["not", "an", "object"]),
        ("cus%20with%20spaces", None),
        ("c" * 256, None),
        ("cus_%01ctrl", None),
    ],
)
def test_bad_input_is_a_400(api, tenant, action, customer_id, body):
    _session(tenant)

    response = action(api, customer_id, data=body)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert Session.objects.get().survey_feedback == FEEDBACK
    assert not Event.objects.filter(type="customer.erased").exists()


def test_an_unknown_customer_gets_the_same_document_empty(api):
    response = _export(api, "cus_NeverSeen")

    assert response.status_code == 200
    document = response.json()
    assert list(document) == EXPORT_KEYS
    assert set(document["counts"].values()) == {0}
    assert all(document[kind] == [] for kind in EXPORT_KEYS[6:])


def test_another_workspaces_customer_is_empty_here_and_erasing_it_touches_nothing(
    make_client, tenant
):
    theirs = _session(TenantFactory())
    ours = make_client(tenant)

    exported = _export(ours).json()
    erased = _erase(ours)

    assert exported["counts"] == dict.fromkeys(exported["counts"], 0)
    assert theirs.pk not in str(exported)
    assert erased.status_code == 200
    assert set(erased.json()["counts"].values()) == {0}
    theirs.refresh_from_db()
    assert (theirs.survey_feedback, theirs.metadata) == (FEEDBACK, METADATA)


def test_a_test_key_exports_and_erases_test_mode_only(make_client, tenant):
    live = _session(tenant, livemode=True)
    test = _session(tenant)
    test_key, live_key = make_client(tenant), make_client(tenant, livemode=True)

    assert [s["id"] for s in _export(test_key).json()["sessions"]] == [test.pk]
    assert [s["id"] for s in _export(live_key).json()["sessions"]] == [live.pk]
    assert _erase(test_key).json()["counts"]["sessions"] == 1

    live.refresh_from_db()
    test.refresh_from_db()
    assert (test.survey_feedback, live.survey_feedback) == ("[erased]", FEEDBACK)


def test_another_customer_of_the_same_workspace_is_untouched(api, tenant):
    neighbour = _session(tenant, customer_id="cus_Neighbour")
    _session(tenant)

    assert _erase(api).json()["counts"]["sessions"] == 1

    neighbour.refresh_from_db()
    assert (neighbour.survey_feedback, neighbour.metadata) == (FEEDBACK, METADATA)


def test_an_export_is_never_stored_for_a_replay(api, tenant):
    _session(tenant)

    first = _export(api, HTTP_IDEMPOTENCY_KEY="export-1")
    second = _export(api, HTTP_IDEMPOTENCY_KEY="export-1")

    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second
    assert not IdempotencyRecord.objects.exists()
    assert AuditEntry.objects.filter(action="customer.exported").count() == 2


def test_an_erasure_with_an_idempotency_key_is_replayed_without_personal_data(api, tenant):
    _session(tenant)

    first = _erase(api, HTTP_IDEMPOTENCY_KEY="erase-1")
    replay = _erase(api, HTTP_IDEMPOTENCY_KEY="erase-1")

    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    stored = str(IdempotencyRecord.objects.get().response_body)
    assert EMAIL not in stored and FEEDBACK not in stored
    assert Event.objects.filter(type="customer.erased").count() == 1


def test_each_request_is_audited_with_the_key_as_actor(api, tenant):
    _session(tenant)

    _export(api)
    erasure = _erase(api).json()

    exported, erased = AuditEntry.objects.filter(action__startswith="customer.").order_by(
        "created_at", "id"
    )
    for entry in (exported, erased):
        assert (entry.actor_kind, entry.actor_id) == ("api_key", api.api_key.pk)
        assert (entry.tenant_id, entry.livemode) == (tenant.pk, False)
        assert entry.changes["customer_id"] == CUSTOMER
    assert exported.action == "customer.exported"
    assert exported.changes["counts"]["sessions"] == 1
    assert erased.action == "customer.erased"
    assert erased.changes["counts"] == erasure["counts"]
    assert erased.changes["event_id"] == erasure["event_id"]


def test_the_erased_event_carries_the_id_and_counts_only(api, tenant):
    _session(tenant)

    erasure = _erase(api).json()

    event = Event.objects.get(pk=erasure["event_id"])
    assert (event.type, event.tenant_id, event.livemode) == ("customer.erased", tenant.pk, False)
    assert event.payload["data"] == {
        "customer_id": CUSTOMER,
        "counts": erasure["counts"],
        "livemode": False,
    }


def test_both_operations_are_in_the_schema(client):
    paths = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()["paths"]
    for operation in ("export", "erase"):
        post = paths[f"/api/v1/customers/{{customer_id}}/{operation}"]["post"]
        assert post["operationId"] == f"customers_{operation}"
        assert {"200", "400", "403"} <= set(post["responses"])


def test_a_receipt_not_yet_sent_is_never_sent_after_erasure(api, tenant, mailoutbox):
    session = _session(tenant)
    receipt = Receipt.objects.create(
        session=session, to_email=EMAIL, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    counts = _erase(api).json()["counts"]

    assert counts["receipts"] == 1
    receipt.refresh_from_db()
    assert (receipt.status, receipt.to_email, receipt.next_attempt_at) == (
        "failed",
        "[erased]",
        None,
    )
    assert receipt.last_error.startswith("Not sent")
    assert receipts.receipt_send(receipt_id=receipt.pk) is None
    assert mailoutbox == []
