"""Receipts to the subscriber: what each one says, that it goes out once, and to whom.

Sessions are completed through ``execution.session_complete`` (what the worker runs after
Stripe answers) with fixed outcomes, so the words can be checked against real dates and
amounts; the hosted flow and direct cancel run on the emulator. Mail goes to Django's
locmem outbox; a real worker's mail is checked in tests/flow_worker.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connections
from django.utils import timezone

from sessions_app import execution, receipts, tasks
from sessions_app.models import Receipt, Session
from tests.dashboard.conftest import merchant_client  # noqa: F401
from tests.factories import TenantFactory
from tests.worker_fixture import isolated_broker

from .conftest import FlowClient

pytestmark = pytest.mark.django_db

ADDRESS = "jane.doe@example.com"
PERIOD_END = "2027-01-15T00:00:00.000Z"


def completed(tenant, action: str, details: dict[str, Any], **fields: Any) -> Session:  # type: ignore[no-untyped-def]
    """A session of ``tenant`` on Pro at $29.00 a month, completed with ``details``."""
    snapshot = {
        "customer_email": ADDRESS,
        "current_period_end": PERIOD_END,
        "status": "active",
        **fields.pop("snapshot", {}),
    }
    session = Session.objects.create(
        tenant=tenant,
        livemode=False,
        status="executing",
        customer_id="cus_receipt",
        subscription_id=f"sub_{Session.objects.count()}",
        product_name="Pro",
        price_id="price_pro",
        price_amount=2900,
        price_currency="usd",
        price_interval="month",
        subscription_snapshot=snapshot,
        selected_action=action,
        expires_at=timezone.now() + timedelta(hours=1),
        **fields,
    )
    assert execution.session_complete(session=session, details=details)
    session.refresh_from_db()
    return session


def sent_for(session: Session) -> mail.EmailMultiAlternatives:
    receipt = receipts.receipt_send(receipt_id=session.receipt.id)
    assert receipt is not None and receipt.status == "sent", receipt and receipt.last_error
    [message] = [m for m in mail.outbox if session.id in m.body]
    return message


def text_of(tenant, action: str, details: dict[str, Any], **fields: Any) -> str:  # type: ignore[no-untyped-def]
    return sent_for(completed(tenant, action, details, **fields)).body


# --- What each receipt says -----------------------------------------------------------------
def test_pause_says_until_when_and_what_it_costs_after(tenant):
    text = text_of(
        tenant,
        "pause",
        {"pause_duration_days": 90, "resume_date": "2027-03-03T00:00:00.000Z"},
        action_params={"months": 3, "days": 90},
    )
    assert "Your subscription is paused until March 3, 2027." in text
    assert "No payments are taken while it is paused." in text
    assert "On March 3, 2027 it picks up again at $29.00 per month." in text


def test_percent_discount_says_how_much_for_how_long_and_the_price_after(tenant):
    text = text_of(
        tenant,
        "discount",
        {
            "discount_type": "percent",
            "discount_amount": 25,
            "duration_months": 3,
            "coupon_id": "mrrx_25pct_3m",
        },
    )
    assert "25% off for 3 months, then $29.00 per month." in text
    assert "You pay $21.75 per month instead of $29.00." in text


def test_amount_discount_without_an_end_says_so(tenant):
    text = text_of(
        tenant,
        "discount",
        {
            "discount_type": "amount",
            "discount_amount": 500,
            "duration_months": None,
            "coupon_id": "co_forever",
        },
    )
    assert "$5.00 off from now on." in text
    assert "You pay $24.00 per month instead of $29.00." in text
    assert "then" not in text


def test_downgrade_names_the_new_plan_and_its_price(tenant):
    text = text_of(
        tenant,
        "downgrade",
        {"previous_price_id": "price_pro", "new_price_id": "price_basic", "new_amount": 1900},
        action_params={
            "price_id": "price_basic",
            "amount": 1900,
            "currency": "usd",
            "interval": "month",
            "product_name": "Basic",
        },
    )
    assert "Your plan is now Basic at $19.00 per month." in text
    assert "Before, it was Pro at $29.00 per month." in text


def test_trial_extension_gives_the_new_and_the_old_end(tenant):
    text = text_of(
        tenant,
        "extend_trial",
        {
            "extension_days": 14,
            "new_trial_end": "2027-02-10T00:00:00.000Z",
            "original_trial_end": "2027-01-27T00:00:00.000Z",
        },
        snapshot={"status": "trialing", "trial_end": "2027-01-27T00:00:00.000Z"},
    )
    assert "Your trial now ends on Feb. 10, 2027." in text
    assert "That is 14 days more than before: it was to end on Jan. 27, 2027." in text
    assert "After the trial, your subscription costs $29.00 per month." in text


def test_cancel_at_period_end_says_when_it_cancels_not_when_it_was_asked(tenant):
    # Stripe's canceled_at is the moment of the request; the period end is when it ends.
    message = sent_for(
        completed(
            tenant,
            "cancel",
            {"canceled_at": "2026-12-03T08:00:00.000Z", "cancel_at_period_end": True},
            action_params={"at_period_end": True},
        )
    )
    assert message.subject == "Your subscription will end on Jan. 15, 2027"
    assert "Your subscription cancels on Jan. 15, 2027." in message.body
    assert "You keep access until then, and it will not renew." in message.body
    assert "Dec. 3, 2026" not in message.body


def test_immediate_cancel_says_it_has_ended(tenant):
    message = sent_for(
        completed(
            tenant,
            "cancel",
            {"canceled_at": "2026-12-03T08:00:00.000Z", "cancel_at_period_end": False},
            action_params={"at_period_end": False},
        )
    )
    assert message.subject == "Your subscription is canceled"
    assert "Your subscription was canceled on Dec. 3, 2026." in message.body
    assert "It has ended and will not renew." in message.body
    assert "Jan. 15, 2027" not in message.body


# --- The message ------------------------------------------------------------------------------
def test_receipt_has_both_parts_the_workspace_as_sender_and_the_session_as_reference(
    tenant, settings
):
    settings.DEFAULT_FROM_EMAIL = "MRRX <receipts@mrrx.example>"
    tenant.name, tenant.support_email = "Acme, Inc.", "help@acme.example"
    tenant.save()
    session = completed(
        tenant, "pause", {"pause_duration_days": 30, "resume_date": "2027-01-02T00:00:00Z"}
    )
    message = sent_for(session)

    assert message.to == [ADDRESS]
    assert parseaddr(message.message()["From"]) == ("Acme, Inc.", "receipts@mrrx.example")
    assert message.message()["Auto-Submitted"] == "auto-generated"
    assert message.subject == "Your subscription is paused"
    assert f"Reference: {session.id}" in message.body
    assert "This confirms a change to your Pro subscription with Acme, Inc." in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert f"Reference: {session.id}" in html
    assert "Your subscription is paused until Jan. 2, 2027." in html
    assert "Acme, Inc." in html and 'lang="en"' in html

    receipt = Receipt.objects.get(session=session)
    assert receipt.subject == "Your subscription is paused"
    assert receipt.sent_at is not None and receipt.attempts == 1


def test_reply_to_is_the_receipt_address_else_the_support_email_else_none(tenant):
    details = {"pause_duration_days": 30, "resume_date": "2027-01-02T00:00:00Z"}
    tenant.receipt_reply_to, tenant.support_email = "billing@acme.example", "help@acme.example"
    tenant.save()
    assert sent_for(completed(tenant, "pause", details)).reply_to == ["billing@acme.example"]
    assert "Questions? Reply to this email." in mail.outbox[-1].body

    tenant.receipt_reply_to = ""
    tenant.save()
    assert sent_for(completed(tenant, "pause", details)).reply_to == ["help@acme.example"]

    tenant.support_email = ""
    tenant.save()
    message = sent_for(completed(tenant, "pause", details))
    assert message.reply_to == [] and "Reply-To" not in message.message()
    assert "Reply to this email" not in message.body


def test_the_receipt_is_written_in_the_sessions_language_else_the_workspaces(tenant):
    details = {"pause_duration_days": 30, "resume_date": "2027-01-02T00:00:00Z"}
    tenant.default_locale = "de"
    tenant.save()
    french = completed(tenant, "pause", details, locale="fr")
    german = completed(tenant, "pause", details)
    assert french.receipt.locale == "fr" and german.receipt.locale == "de"
    assert 'lang="fr"' in sent_for(french).alternatives[0][0]
    assert 'lang="de"' in sent_for(german).alternatives[0][0]


# --- Once, and only once ----------------------------------------------------------------------
def test_sending_twice_sends_one_email(tenant):
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    assert receipts.receipt_send(receipt_id=session.receipt.id).status == "sent"
    assert receipts.receipt_send(receipt_id=session.receipt.id) is None
    # The task as a duplicated or redelivered message would run it.
    assert tasks.receipt_send(session.receipt.id) is None
    assert len(mail.outbox) == 1


def test_completing_again_writes_no_second_receipt(tenant):
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    assert not execution.session_complete(session=session, details={})
    assert receipts.receipt_record(session=session).id == session.receipt.id
    assert Receipt.objects.filter(session=session).count() == 1


class SecondWorkerMeanwhile(BaseEmailBackend):
    """An email backend during whose send another worker tries to send the same receipt."""

    sent: list[Any] = []
    second_worker_got: list[Any] = []

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        if not self.second_worker_got:
            receipt_id = Receipt.objects.get().id

            def other_worker() -> None:
                try:
                    self.second_worker_got.append(receipts.receipt_send(receipt_id=receipt_id))
                finally:
                    connections.close_all()

            thread = threading.Thread(target=other_worker)
            thread.start()
            thread.join(timeout=30)
        self.sent.extend(messages)
        return len(messages)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_send_one_email(settings):
    settings.EMAIL_BACKEND = f"{__name__}.SecondWorkerMeanwhile"
    SecondWorkerMeanwhile.sent, SecondWorkerMeanwhile.second_worker_got = [], []
    session = completed(
        TenantFactory(), "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True}
    )
    first = receipts.receipt_send(receipt_id=session.receipt.id)
    assert SecondWorkerMeanwhile.second_worker_got == [None]
    assert first.status == "sent" and len(SecondWorkerMeanwhile.sent) == 1


class Refusing(BaseEmailBackend):
    """A mail server that refuses the first ``failures`` messages, then accepts."""

    failures = 0
    sent: list[Any] = []

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        if Refusing.failures > 0:
            Refusing.failures -= 1
            raise smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"mailbox unavailable")})
        Refusing.sent.extend(messages)
        return len(messages)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:  # type: ignore[no-untyped-def]
    frozen = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


@pytest.fixture
def refusing(settings) -> type[Refusing]:  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = f"{__name__}.Refusing"
    Refusing.failures, Refusing.sent = 0, []
    return Refusing


@pytest.fixture
def unconsumed_broker():  # type: ignore[no-untyped-def]
    """A broker namespace no worker reads: what the dispatcher queues stays queued."""
    with isolated_broker() as namespace:
        yield namespace


def test_failed_sends_are_retried_after_a_backoff_then_the_receipt_fails(
    tenant, refusing, clock, unconsumed_broker, caplog
):
    refusing.failures = 99
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    receipt_id = session.receipt.id
    for attempt in range(1, receipts.MAX_ATTEMPTS + 1):
        receipt = receipts.receipt_send(receipt_id=receipt_id)
        assert receipt.attempts == attempt
        assert "SMTPRecipientsRefused" in receipt.last_error
        if attempt == receipts.MAX_ATTEMPTS:
            break
        assert receipt.status == "pending"
        assert receipt.next_attempt_at == clock.now + receipts.RETRY_BACKOFF[attempt - 1]
        # Not queued again before its time; queued once at its time.
        clock.now = receipt.next_attempt_at - timedelta(seconds=1)
        assert receipts.receipts_dispatch_due()["queued"] == 0
        clock.now = receipt.next_attempt_at
        assert receipts.receipts_dispatch_due()["queued"] == 1
        assert receipts.receipts_dispatch_due()["queued"] == 0

    assert receipt.status == "failed" and receipt.failed_at == clock.now
    assert receipt.next_attempt_at is None
    clock.now += timedelta(days=1)
    assert receipts.receipts_dispatch_due() == {"queued": 0, "interrupted": 0}
    assert receipts.receipt_send(receipt_id=receipt_id) is None
    assert refusing.sent == []
    # The mail server's error named the address: neither the row nor the log keeps it.
    assert ADDRESS not in receipt.last_error and "j***@example.com" in receipt.last_error
    assert ADDRESS not in caplog.text and "j***@example.com" in caplog.text


def test_a_receipt_sent_after_a_failure_is_never_sent_again(
    tenant, refusing, clock, unconsumed_broker
):
    refusing.failures = 1
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    assert receipts.receipt_send(receipt_id=session.receipt.id).status == "pending"
    clock.now += receipts.RETRY_BACKOFF[0]
    assert receipts.receipts_dispatch_due()["queued"] == 1
    receipt = receipts.receipt_send(receipt_id=session.receipt.id)
    assert receipt.status == "sent" and receipt.attempts == 2 and receipt.last_error == ""
    clock.now += timedelta(days=1)
    assert receipts.receipts_dispatch_due() == {"queued": 0, "interrupted": 0}
    assert receipts.receipt_send(receipt_id=session.receipt.id) is None
    assert len(refusing.sent) == 1


def test_a_message_the_broker_lost_is_queued_again(tenant, clock, unconsumed_broker):
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    assert receipts.receipts_dispatch_due()["queued"] == 0
    clock.now += receipts.REQUEUE_AFTER
    assert receipts.receipts_dispatch_due()["queued"] == 1
    assert receipts.receipts_dispatch_due()["queued"] == 0
    assert receipts.receipt_send(receipt_id=session.receipt.id).status == "sent"
    assert len(mail.outbox) == 1


def test_a_worker_gone_mid_send_leaves_a_failed_receipt_never_resent(
    tenant, clock, unconsumed_broker
):
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    # The claim a worker leaves behind when it is killed while talking to the mail server.
    Receipt.objects.filter(pk=session.receipt.pk).update(
        status="sending", attempts=1, sending_at=clock.now,
        next_attempt_at=clock.now + receipts.SENDING_TIMEOUT,
    )  # fmt: skip
    assert receipts.receipts_dispatch_due() == {"queued": 0, "interrupted": 0}
    clock.now += receipts.SENDING_TIMEOUT
    assert receipts.receipts_dispatch_due() == {"queued": 0, "interrupted": 1}
    receipt = Receipt.objects.get(pk=session.receipt.pk)
    assert receipt.status == "failed" and "may have gone out" in receipt.last_error
    assert receipts.receipt_send(receipt_id=receipt.id) is None
    assert mail.outbox == []


# --- When there is nothing to send ----------------------------------------------------------
def test_a_workspace_with_receipts_off_sends_nothing(tenant, clock, unconsumed_broker):
    tenant.receipts_enabled = False
    tenant.save()
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    assert not Receipt.objects.filter(session=session).exists()
    clock.now += timedelta(days=1)
    assert receipts.receipts_dispatch_due() == {"queued": 0, "interrupted": 0}
    assert mail.outbox == []


@pytest.mark.parametrize("email", [None, "", "not an address"])
def test_no_usable_address_is_recorded_and_nothing_is_sent(tenant, email, clock, unconsumed_broker):
    session = completed(
        tenant,
        "cancel",
        {"canceled_at": PERIOD_END, "cancel_at_period_end": True},
        snapshot={"customer_email": email},
    )
    receipt = Receipt.objects.get(session=session)
    assert (receipt.status, receipt.to_email, receipt.next_attempt_at) == ("no_address", "", None)
    clock.now += timedelta(days=1)
    assert receipts.receipts_dispatch_due()["queued"] == 0
    assert receipts.receipt_send(receipt_id=receipt.id) is None
    assert mail.outbox == []
    assert receipts.receipt_notice(session=session) is None


def test_another_workspaces_receipts_are_untouched(tenant, other_tenant):
    tenant.name, tenant.receipt_reply_to = "Ours", "ours@example.com"
    tenant.save()
    other_tenant.name, other_tenant.receipt_reply_to = "Theirs", "theirs@example.com"
    other_tenant.save()
    details = {"canceled_at": PERIOD_END, "cancel_at_period_end": True}
    ours, theirs = completed(tenant, "cancel", details), completed(other_tenant, "cancel", details)

    message = sent_for(ours)
    assert message.reply_to == ["ours@example.com"]
    assert parseaddr(message.message()["From"])[0] == "Ours"
    assert "Theirs" not in message.body and theirs.id not in message.body
    untouched = Receipt.objects.get(session=theirs)
    assert (untouched.status, untouched.attempts, untouched.sent_at) == ("pending", 0, None)

    other_tenant.receipts_enabled = False
    other_tenant.save()
    assert completed(tenant, "cancel", details).receipt.status == "pending"


# --- The task's log ---------------------------------------------------------------------------
def test_the_task_logs_the_receipt_with_the_address_masked(tenant, caplog):
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    with caplog.at_level(logging.INFO, logger="sessions_app.tasks"):
        assert tasks.receipt_send(session.receipt.id) == "sent"
    assert f"receipt {session.receipt.id} of session {session.id} to j***@example.com: sent" in (
        caplog.text
    )
    assert ADDRESS not in caplog.text


def test_email_mask_keeps_the_first_letter_and_the_domain():
    assert receipts.email_mask("jane.doe@example.com") == "j***@example.com"
    assert receipts.email_mask("j@example.com") == "j***@example.com"
    assert receipts.email_mask("nonsense") == "***"


# --- Through the hosted flow and direct cancel, on the emulator ---------------------------------
def test_the_result_page_says_where_the_receipt_goes_masked(shop, emulator):
    body = shop.create(return_url="https://app.example.com/account").json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "too_expensive"})
    browser.post(path, {"step": "offer", "action": "cancel"})
    browser.post(path, {"step": "feedback", "feedback": ""})
    browser.post(path, {"step": "confirm"})
    execution.session_execute(session_id=body["id"])

    page = browser.get(path).content.decode()
    assert "A confirmation will be sent to s***@example.com." in page
    assert "subscriber@example.com" not in page

    session = Session.objects.get(pk=body["id"])
    message = sent_for(session)
    assert message.to == ["subscriber@example.com"]
    assert "Your subscription cancels on" in message.body
    page = browser.get(path).content.decode()
    assert "A confirmation was sent to s***@example.com." in page


def test_the_result_page_says_nothing_of_a_receipt_when_receipts_are_off(shop, emulator):
    shop.tenant.receipts_enabled = False
    shop.tenant.save()
    body = shop.create(return_url="https://app.example.com/account").json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "too_expensive"})
    browser.post(path, {"step": "offer", "action": "cancel"})
    browser.post(path, {"step": "feedback", "feedback": ""})
    browser.post(path, {"step": "confirm"})
    execution.session_execute(session_id=body["id"])
    page = browser.get(path).content.decode()
    assert 'id="result-text"' in page and "confirmation" not in page


def test_a_direct_cancel_sends_a_receipt(shop, emulator):
    response = shop.client.post(
        f"/api/v1/subscriptions/{shop.seeded.subscription_id}/cancel",
        {"reason": "too_expensive", "at_period_end": False},
    )
    assert response.status_code == 200, response.content
    session = Session.objects.get(pk=response.json()["id"])
    assert session.source == "api" and session.receipt.status == "pending"
    message = sent_for(session)
    assert message.to == ["subscriber@example.com"]
    assert "Your subscription was canceled on" in message.body
    assert "It has ended and will not renew." in message.body


# --- Admin ------------------------------------------------------------------------------------
def test_the_session_page_in_admin_shows_its_receipt(tenant, merchant_client):  # noqa: F811
    session = completed(tenant, "cancel", {"canceled_at": PERIOD_END, "cancel_at_period_end": True})
    sent_for(session)
    page = merchant_client(tenant, "viewer").get(
        f"/admin/sessions_app/session/{session.id}/change/"
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "Receipt to the subscriber" in html
    assert "<strong>status</strong>: Sent" in html
    assert f"<strong>to</strong>: {ADDRESS}" in html
    assert "<strong>subject</strong>: Your subscription will end on Jan. 15, 2027" in html
    assert "<strong>sent at</strong>: 20" in html


def test_owners_turn_receipts_off_and_set_a_reply_to_in_admin(tenant, merchant_client):  # noqa: F811
    client = merchant_client(tenant, "owner")
    url = f"/admin/tenants/tenant/{tenant.pk}/change/"
    form = client.get(url)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="receipts_enabled"' in html and 'name="receipt_reply_to"' in html
    response = client.post(
        url,
        {
            "name": tenant.name,
            "brand_color": tenant.brand_color,
            "support_email": "",
            "return_url_allowlist": '["https://app.example.com"]',
            "default_return_url": tenant.default_return_url,
            "receipt_reply_to": "billing@acme.example",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    tenant.refresh_from_db()
    assert tenant.receipts_enabled is False and tenant.receipt_reply_to == "billing@acme.example"
