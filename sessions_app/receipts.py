"""Receipts: the email that tells a subscriber what a completed session changed.

``receipt_record`` writes the receipt's row in the transaction that completes the session
(the row is its own outbox) and queues it after commit. A worker sends it with
``receipt_send``, which first claims the row with a conditional update: a duplicated or
retried task finds nothing to claim, so a receipt goes out once. A failed send is
retried after a backoff (``receipts_dispatch_due``, every minute), a bounded number of
times, then marked failed. A worker that stops mid-send leaves its claim behind; it is
marked failed rather than sent again, since the message may have gone out.

A session completed by a contact or redirect offer gets no receipt (``deflections``):
nothing changed on the subscription for one to confirm.

The subscriber's address is personal data: logs only ever carry it masked
(``email_mask``).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mrrx.languages import language_choose, language_supported

from . import presentation
from .jobs import receipt_send_enqueue, receipt_send_enqueue_on_commit
from .models import Action, Receipt, ReceiptStatus, Session

logger = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed attempt; after the last one the receipt fails.
RETRY_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1
# A pending receipt whose message no worker ran in this time (a broker that lost it, or
# was down at commit) is queued again.
REQUEUE_AFTER = timedelta(minutes=5)
# A claim older than this belongs to a worker that is gone: well past the task's hard
# time limit (CELERY_TASK_TIME_LIMIT).
SENDING_TIMEOUT = timedelta(minutes=10)
DISPATCH_BATCH = 500
INTERRUPTED = "The worker stopped while sending it; not sent again, as it may have gone out."


# --- Addresses ---------------------------------------------------------------------------
def email_mask(address: str) -> str:
    """``jane@example.com`` as ``j***@example.com``: recognisable to its owner, and no more."""
    local, at, domain = (address or "").rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def customer_email(session: Session) -> str:
    """The customer's address as Stripe gave it when the session began, if it is usable."""
    address = str(session.subscription_snapshot.get("customer_email") or "").strip()
    if len(address) > 254:
        return ""
    try:
        validate_email(address)
    except ValidationError:
        return ""
    return address


def _scrub(text: str, address: str) -> str:
    """``text`` (an error from the mail server, say) without the full address in it."""
    if not address:
        return text
    return re.sub(re.escape(address), email_mask(address), text, flags=re.IGNORECASE)


def receipt_locale(session: Session) -> str:
    """The session's language (given at creation, or the one the subscriber's browser
    asked for), else the workspace's: no browser is there when the receipt is written."""
    return language_choose(chosen=session.locale, default=session.tenant.default_locale)


# --- Recording ---------------------------------------------------------------------------
def receipt_record(*, session: Session) -> Receipt | None:
    """Write the receipt of a session that has just completed, and queue it after commit.

    Call inside the transaction that completes the session. Nothing is written when the
    workspace has receipts turned off. When Stripe knows no usable address for the
    customer, the row says so (``no_address``) and nothing is queued. Calling it again
    for the same session returns the row already written.
    """
    if not session.tenant.receipts_enabled:
        return None
    address = customer_email(session)
    receipt, created = Receipt.objects.get_or_create(
        session=session,
        defaults={
            "status": ReceiptStatus.PENDING if address else ReceiptStatus.NO_ADDRESS,
            "to_email": address,
            "locale": receipt_locale(session),
            "next_attempt_at": timezone.now() + REQUEUE_AFTER if address else None,
        },
    )
    if created and receipt.status == ReceiptStatus.PENDING:
        receipt_send_enqueue_on_commit(receipt.id)
    return receipt


# --- Words -------------------------------------------------------------------------------
def _when(value: datetime | str | None) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else value


def _plan_price(session: Session) -> dict[str, str]:
    return {
        "plan": session.product_name,
        "price": presentation.money(session.price_amount, session.price_currency),
        "per": presentation.per_interval(session.price_interval, session.price_interval_count),
    }


def _pause(session: Session, details: dict[str, Any]) -> tuple[str, str, list[str]]:
    resumes = presentation.day(details.get("resume_date"))
    lines = [_("No payments are taken while it is paused.")]
    if session.price_amount is not None:
        lines.append(
            _("On %(date)s it picks up again at %(price)s per %(per)s.")
            % {**_plan_price(session), "date": resumes}
        )
    return (
        _("Your subscription is paused"),
        _("Your subscription is paused until %(date)s.") % {"date": resumes},
        lines,
    )


def _discount(session: Session, details: dict[str, Any]) -> tuple[str, str, list[str]]:
    currency, price = session.price_currency, session.price_amount
    amount = details.get("discount_amount") or 0
    months = details.get("duration_months")
    if details.get("discount_type") == "percent":
        off = _("%(percent)s%% off") % {"percent": amount}
        new_price = None if price is None else round(price * (100 - amount) / 100)
    else:
        off = _("%(amount)s off") % {"amount": presentation.money(amount, currency)}
        new_price = None if price is None else max(0, price - amount)
    if price is None:
        headline = (
            ngettext("%(off)s for %(n)s month.", "%(off)s for %(n)s months.", months)
            % {"off": off, "n": months}
            if months
            else _("%(off)s from now on.") % {"off": off}
        )
        return _("Your discount is applied"), headline, []
    per = presentation.per_interval(session.price_interval, session.price_interval_count)
    old, new = presentation.money(price, currency), presentation.money(new_price, currency)
    headline = (
        ngettext(
            "%(off)s for %(n)s month, then %(price)s per %(per)s.",
            "%(off)s for %(n)s months, then %(price)s per %(per)s.",
            months,
        )
        % {"off": off, "n": months, "price": old, "per": per}
        if months
        else _("%(off)s from now on.") % {"off": off}
    )
    lines = [
        _("You pay %(new)s per %(per)s instead of %(old)s.") % {"new": new, "per": per, "old": old},
        _("The discount applies from your next invoice."),
    ]
    return _("Your discount is applied"), headline, lines


def _downgrade(session: Session, details: dict[str, Any]) -> tuple[str, str, list[str]]:
    params = session.action_params
    price = presentation.money(
        details.get("new_amount"), params.get("currency") or session.price_currency
    )
    per = presentation.per_interval(
        params.get("interval") or session.price_interval,
        params.get("interval_count") or session.price_interval_count,
    )
    plan = params.get("product_name")
    headline = (
        _("Your plan is now %(plan)s at %(price)s per %(per)s.")
        % {"plan": plan, "price": price, "per": per}
        if plan
        else _("Your plan now costs %(price)s per %(per)s.") % {"price": price, "per": per}
    )
    lines = []
    if session.product_name and session.price_amount is not None:
        lines.append(_("Before, it was %(plan)s at %(price)s per %(per)s.") % _plan_price(session))
    return _("Your plan has changed"), headline, lines


def _extend_trial(session: Session, details: dict[str, Any]) -> tuple[str, str, list[str]]:
    days = details.get("extension_days") or 0
    lines = [
        ngettext(
            "That is %(n)s day more than before: it was to end on %(date)s.",
            "That is %(n)s days more than before: it was to end on %(date)s.",
            days,
        )
        % {"n": days, "date": presentation.day(details.get("original_trial_end"))}
    ]
    if session.price_amount is not None:
        lines.append(
            _("After the trial, your subscription costs %(price)s per %(per)s.")
            % _plan_price(session)
        )
    return (
        _("Your free trial is extended"),
        _("Your trial now ends on %(date)s.")
        % {"date": presentation.day(details.get("new_trial_end"))},
        lines,
    )


def _cancel(session: Session, details: dict[str, Any]) -> tuple[str, str, list[str]]:
    if details.get("cancel_at_period_end"):
        # Stripe's canceled_at is when the cancellation was asked for; the subscription
        # ends with the period that was paid for.
        ends = presentation.day(
            session.subscription_snapshot.get("current_period_end") or details.get("canceled_at")
        )
        return (
            _("Your subscription will end on %(date)s") % {"date": ends},
            _("Your subscription cancels on %(date)s.") % {"date": ends},
            [_("You keep access until then, and it will not renew.")],
        )
    ended = presentation.day(details.get("canceled_at") or session.executed_at)
    return (
        _("Your subscription is canceled"),
        _("Your subscription was canceled on %(date)s.") % {"date": ended},
        [_("It has ended and will not renew.")],
    )


WORDS = {
    Action.PAUSE: _pause,
    Action.DISCOUNT: _discount,
    Action.DOWNGRADE: _downgrade,
    Action.EXTEND_TRIAL: _extend_trial,
    Action.CANCEL: _cancel,
}


def receipt_content(*, session: Session) -> dict[str, Any]:
    """What the receipt of a completed session says, in the active language: ``subject``,
    ``headline`` (what changed, with its date or amount), ``lines`` (what follows from
    it), ``intro`` and the session id as ``reference``."""
    subject, headline, lines = WORDS[Action(session.outcome_action)](
        session, session.outcome_details or {}
    )
    workspace = session.tenant.name
    intro = (
        _("This confirms a change to your %(plan)s subscription with %(workspace)s.")
        % {"plan": session.product_name, "workspace": workspace}
        if session.product_name
        else _("This confirms a change to your subscription with %(workspace)s.")
        % {"workspace": workspace}
    )
    return {
        "subject": subject,
        "intro": intro,
        "headline": headline,
        "lines": lines,
        "reference": session.id,
        "workspace": workspace,
        # Which subscription, among the customer's: plan, price, description, start.
        "subscription": presentation.subscription_name(session),
    }


def _sender(workspace: str) -> str:
    """``DEFAULT_FROM_EMAIL``'s address, with the workspace's name to show."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    # A line break in a header would be refused (or worse): names are one line.
    name = " ".join(workspace.split())
    return formataddr((name, address)) if name else address


def receipt_message(*, receipt: Receipt) -> EmailMultiAlternatives:
    """The receipt as an email with a plain-text and an HTML part, in its language."""
    session = receipt.session
    tenant = session.tenant
    reply_to = tenant.receipt_reply_to or tenant.support_email
    with translation.override(language_supported(receipt.locale) or receipt_locale(session)):
        content = receipt_content(session=session)
        context = {
            **content,
            "reply_to": reply_to,
            "brand": presentation.brand(tenant),
            "language": translation.get_language(),
        }
        text = render_to_string("receipts/receipt.txt", context)
        html = render_to_string("receipts/receipt.html", context)
    message = EmailMultiAlternatives(
        subject=content["subject"],
        body=text,
        from_email=_sender(tenant.name),
        to=[receipt.to_email],
        reply_to=[reply_to] if reply_to else None,
        # RFC 3834: no vacation replies to a message that no person sent.
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


# --- Sending -----------------------------------------------------------------------------
def receipt_send(*, receipt_id: str) -> Receipt | None:
    """Send a pending receipt; ``None`` when there is nothing to send (already sent,
    sending elsewhere, failed for good, or no such receipt).

    The claim (``pending`` → ``sending``) is committed before the message is handed to
    the email backend, so a second worker with the same receipt finds nothing to claim.
    A failed send is recorded and made due again after ``RETRY_BACKOFF``; after
    ``MAX_ATTEMPTS`` the receipt is ``failed``.
    """
    now = timezone.now()
    claimed = Receipt.objects.filter(id=receipt_id, status=ReceiptStatus.PENDING).update(
        status=ReceiptStatus.SENDING,
        attempts=F("attempts") + 1,
        sending_at=now,
        next_attempt_at=now + SENDING_TIMEOUT,
    )
    if not claimed:
        return None
    receipt = Receipt.objects.select_related("session__tenant").get(id=receipt_id)
    # This claim's number: no other claim can take the row until it is pending again.
    attempt = receipt.attempts
    subject = ""
    try:
        message = receipt_message(receipt=receipt)
        subject = message.subject
        message.send()
    except Exception as exc:
        error = _scrub(f"{type(exc).__name__}: {exc}", receipt.to_email)[:2000]
        _attempt_failed(receipt=receipt, attempt=attempt, subject=subject, error=error)
        logger.warning(
            "receipt %s of session %s to %s, attempt %d: %s",
            receipt.id, receipt.session_id, email_mask(receipt.to_email), attempt, error,
        )  # fmt: skip
    else:
        # Sent is the truth even if the claim was meanwhile taken for a dead worker's.
        Receipt.objects.filter(id=receipt.id, attempts=attempt).update(
            status=ReceiptStatus.SENT,
            subject=subject,
            sent_at=timezone.now(),
            next_attempt_at=None,
            failed_at=None,
            last_error="",
        )
    receipt.refresh_from_db()
    return receipt


def _attempt_failed(*, receipt: Receipt, attempt: int, subject: str, error: str) -> None:
    now = timezone.now()
    mine = Receipt.objects.filter(id=receipt.id, status=ReceiptStatus.SENDING, attempts=attempt)
    if attempt >= MAX_ATTEMPTS:
        mine.update(
            status=ReceiptStatus.FAILED,
            subject=subject or receipt.subject,
            last_error=error,
            failed_at=now,
            next_attempt_at=None,
        )
    else:
        mine.update(
            status=ReceiptStatus.PENDING,
            subject=subject or receipt.subject,
            last_error=error,
            next_attempt_at=now + RETRY_BACKOFF[attempt - 1],
        )


def receipts_dispatch_due(*, now: datetime | None = None) -> dict[str, int]:
    """Queue the pending receipts that are due (retries, and messages the broker lost),
    and fail the claims of workers that are gone; the body of the beat task.

    Due rows are claimed under ``select_for_update(skip_locked=True)`` by moving
    ``next_attempt_at`` on by ``REQUEUE_AFTER``, so that two dispatchers never queue the
    same receipt and a message lost after this still comes back. Returns the counts
    ``queued`` and ``interrupted``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Receipt.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=(ReceiptStatus.PENDING, ReceiptStatus.SENDING),
                next_attempt_at__lte=now,
            )
            .order_by("next_attempt_at")
            .values_list("id", "status")[:DISPATCH_BATCH]
        )
        pending = [pk for pk, status in due if status == ReceiptStatus.PENDING]
        gone = [pk for pk, status in due if status == ReceiptStatus.SENDING]
        if pending:
            Receipt.objects.filter(id__in=pending).update(next_attempt_at=now + REQUEUE_AFTER)
        interrupted = 0
        if gone:
            interrupted = Receipt.objects.filter(id__in=gone, status=ReceiptStatus.SENDING).update(
                status=ReceiptStatus.FAILED,
                last_error=INTERRUPTED,
                failed_at=now,
                next_attempt_at=None,
            )
    queued = 0
    for receipt_id in pending:
        try:
            receipt_send_enqueue(receipt_id)
        except Exception:
            # Still due after REQUEUE_AFTER: the next dispatch tries again.
            logger.warning("Broker unavailable: %d receipt(s) left for the next dispatch.",
                           len(pending) - queued, exc_info=True)  # fmt: skip
            break
        queued += 1
    return {"queued": queued, "interrupted": interrupted}


# --- The result page ---------------------------------------------------------------------
def receipt_notice(*, session: Session) -> dict[str, Any] | None:
    """What the result page says about the receipt: to whom (masked) and whether it has
    gone yet; ``None`` when none is on its way."""
    receipt = (
        Receipt.objects.filter(
            session=session,
            status__in=(ReceiptStatus.PENDING, ReceiptStatus.SENDING, ReceiptStatus.SENT),
        )
        .only("status", "to_email")
        .first()
    )
    if receipt is None:
        return None
    return {"to": email_mask(receipt.to_email), "sent": receipt.status == ReceiptStatus.SENT}
