"""A receipt sent by a real Celery worker, read from the files its email backend writes."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import pytest

from sessions_app.models import Receipt, Session

from .conftest import walk_to_confirm

pytestmark = pytest.mark.django_db(transaction=True)

# Django's file-based backend ends each message it writes with this line.
SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def worker_mail(folder: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(folder.glob("*.log")):
        for chunk in path.read_bytes().split(SEPARATOR):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk, policy=email.policy.default))
    return messages


def about(session_id: str, messages: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in messages if session_id in m.get_body(("plain",)).get_content()]


def test_a_session_completed_in_the_hosted_flow_gets_one_receipt_from_the_worker(
    celery_worker_process, shop, emulator, worker_mail_dir
):
    shop.tenant.name, shop.tenant.receipt_reply_to = "Acme", "billing@acme.example"
    shop.tenant.save()
    session_id, path, browser = walk_to_confirm(
        shop, reason="not_using_enough", action="pause", pause_months="1"
    )
    assert browser.post(path, {"step": "confirm"}).status_code == 302
    receipt = celery_worker_process.wait_until(
        lambda: Receipt.objects.filter(session_id=session_id, status="sent").first(), timeout=60
    )
    session = Session.objects.get(pk=session_id)
    assert session.status == "completed"

    [message] = about(session_id, worker_mail(worker_mail_dir))
    assert message["To"] == "subscriber@example.com"
    assert parseaddr(message["From"])[0] == "Acme"
    assert message["Reply-To"] == "billing@acme.example"
    assert message["Subject"] == receipt.subject == "Your subscription is paused"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"Reference: {session_id}" in text and f"Reference: {session_id}" in html
    resumes = session.outcome_details["resume_date"]
    assert "Your subscription is paused until " in text and resumes[:4] in text
    assert "Your subscription is paused until " in html
    assert receipt.attempts == 1

    page = browser.get(path).content.decode()
    assert "A confirmation was sent to s***@example.com." in page
    log = celery_worker_process.log()
    assert f"receipt {receipt.id} of session {session_id} to s***@example.com: sent" in log
    assert "subscriber@example.com" not in log
