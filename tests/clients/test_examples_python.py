"""``examples/django`` and ``examples/flask`` against the real product: a subscriber clicks
the example's cancel button, walks MRRX's hosted flow over HTTP, a real worker carries out
the choice on the emulator, the example's return handler shows the outcome it verified,
and its webhook receiver records MRRX's real deliveries, verified."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from werkzeug.serving import make_server

from sessions_app.models import Session
from tests.worker_fixture import wait_until
from webhooks.models import Delivery, Event
from webhooks.services import endpoint_create
from webhooks.signing import generate_secret, mrrx_signature, standard_signature

from .conftest import stripe_subscription

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Example:
    """An example app serving on 127.0.0.1, and the rows its receiver wrote."""

    url: str
    database: Path
    events_table: str
    webhook_secret: str
    log: Callable[[], str] = lambda: ""

    def events(self) -> list[dict[str, Any]]:
        if not self.database.exists():
            return []
        with sqlite3.connect(self.database) as db:
            rows = db.execute(
                f"SELECT payload FROM {self.events_table} ORDER BY event_id"  # noqa: S608
            ).fetchall()
        return [json.loads(payload) for (payload,) in rows]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings_for(shop, live_server, port: int, database: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What each example reads from its environment, and the MRRX side made to match: a
    webhook endpoint pointing at the example, and the example on the return allowlist."""
    origin = f"http://127.0.0.1:{port}"
    _, secret = endpoint_create(tenant=shop.tenant, livemode=False, url=f"{origin}/webhooks/mrrx")
    shop.tenant.return_url_allowlist = [origin]
    shop.tenant.save()
    return {
        "MRRX_BASE_URL": live_server.url,
        "MRRX_API_KEY": shop.client.plaintext,
        "MRRX_WEBHOOK_SECRET": secret,
        "DEMO_CUSTOMER_ID": shop.seeded.customer_id,
        "DEMO_SUBSCRIPTION_ID": shop.seeded.subscription_id,
        "SHOP_DATABASE": str(database),
    }


@pytest.fixture
def django_example(served, live_server, tmp_path) -> Iterator[Example]:
    """``examples/django`` as its README runs it: migrate, then runserver, in its own
    process (it is a Django project of its own)."""
    port = _free_port()
    database = tmp_path / "django.sqlite3"
    env = {
        **os.environ,
        **_settings_for(served, live_server, port, database),
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    cwd = EXAMPLES / "django"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )
    log_path = tmp_path / "django-example.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    example = Example(
        f"http://127.0.0.1:{port}",
        database,
        "shop_webhookevent",
        env["MRRX_WEBHOOK_SECRET"],
        log_path.read_text,
    )
    try:
        wait_until(
            lambda: process.poll() is not None or _answers(example.url),
            timeout=30,
            message="the Django example never answered",
        )
        assert process.poll() is None, example.log()
        yield example
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def flask_example(served, live_server, tmp_path) -> Iterator[Example]:
    """``examples/flask``'s ``create_app``, served by Werkzeug on a port of its own."""
    spec = importlib.util.spec_from_file_location(
        "mrrx_flask_example", EXAMPLES / "flask" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Flask finds its templates through the module
    spec.loader.exec_module(module)
    port = _free_port()
    database = tmp_path / "flask.sqlite3"
    config = _settings_for(served, live_server, port, database)
    app = module.create_app({**config, "DATABASE": config["SHOP_DATABASE"]})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Example(
            f"http://127.0.0.1:{port}", database, "webhook_events", config["MRRX_WEBHOOK_SECRET"]
        )
    finally:
        server.shutdown()
        app.extensions["mrrx"].close()
        sys.modules.pop(spec.name, None)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# --- A subscriber's browser ----------------------------------------------------------------
FORM = re.compile(r"<form\b.*?</form>", re.S)
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)"(?: id="\w+")? value="([^"]*)"')
CONTINUE = re.compile(r'<a class="button" id="continue" href="([^"]+)"')


def _forms(page: str) -> list[dict[str, str]]:
    return [
        {name: html.unescape(value) for name, value in HIDDEN.findall(form)}
        for form in FORM.findall(page)
    ]


def _walk_hosted_flow(
    browser: httpx.Client, url: str, *, action: str, session_id: str, worker
) -> str:  # type: ignore[no-untyped-def]
    """Answer each page of MRRX's hosted flow as a subscriber would, posting its forms
    with their hidden fields, until the result page; return its "Back to ..." link."""
    page_url = urlsplit(url)._replace(query="", fragment="").geturl()
    answers = {
        "reason": {"reason": "not_using_enough" if action == "pause" else "too_expensive"},
        "feedback": {"feedback": "Back after the summer"},
        "confirm": {},
    }
    for _ in range(10):
        page = browser.get(page_url)
        assert page.status_code == 200, page.text[:2000]
        link = CONTINUE.search(page.text)
        if link:
            return html.unescape(link[1])
        # Each step's own forms, not the "skip to cancel" bar some pages carry.
        forms = [f for f in _forms(page.text) if f.get("step", "cancel") != "cancel"]
        if not forms:
            # The progress page: the worker is carrying the action out.
            worker.wait_until(
                lambda: Session.objects.filter(
                    pk=session_id, status__in=("completed", "failed")
                ).exists()
            )
            continue
        step = forms[0]["step"]
        if step == "offer" and action == "cancel":
            form = next(f for f in forms if f.get("action") == "cancel")
        elif step == "offer":
            form = {**forms[0], "action": action, "pause_months": "1"}
        else:
            form = {**forms[0], **answers[step]}
        response = browser.post(page_url, data=form)
        assert response.status_code == 302, response.text[:2000]
    raise AssertionError("the hosted flow never reached its result page")


def _click_cancel(browser: httpx.Client, example: Example) -> httpx.Response:
    """The account page's cancel button: its form, posted with the form's hidden fields
    (Django's CSRF token among them)."""
    account = browser.get(example.url + "/")
    assert account.status_code == 200 and 'id="cancel"' in account.text
    return browser.post(example.url + "/cancel", data=_forms(account.text)[0])


def _return_to(browser: httpx.Client, link: str) -> tuple[httpx.Response, str]:
    """Follow the result page's link back to the example, then do what its page's script
    does: post the fragment's result token to the example."""
    where, _, fragment = link.partition("#")
    landing = browser.get(where)
    assert landing.status_code == 200 and 'id="verify"' in landing.text, landing.text[:2000]
    token = parse_qs(fragment, keep_blank_values=True)["result_token"][0]
    form = {**_forms(landing.text)[0], "result_token": token}
    return browser.post(urlsplit(where)._replace(query="").geturl(), data=form), token


def _outcome(page: httpx.Response) -> tuple[str, str, str]:
    found = re.search(
        r'<h1 id="outcome" data-action="(\w+)" data-session="(\w+)">([^<]+)<', page.text
    )
    assert found, page.text[:2000]
    return found[1], found[2], html.unescape(found[3])


def _signed(event: Event, secret: str, *, at: int) -> dict[str, str]:
    """MRRX's two signature headers for ``event``, made as MRRX makes them."""
    body = event.body.encode()
    return {
        "Content-Type": "application/json",
        "X-MRRX-Signature": mrrx_signature(body=body, secrets=[secret], timestamp=at),
        "webhook-id": event.pk,
        "webhook-timestamp": str(at),
        "webhook-signature": standard_signature(
            msg_id=event.pk, body=body, secrets=[secret], timestamp=at
        ),
    }


def _walk_to_the_verified_outcome(example, served, worker, *, action, emulator, mrrx_url):  # type: ignore[no-untyped-def]
    """The whole round trip; returns the session id."""
    with httpx.Client(timeout=15) as browser:
        clicked = _click_cancel(browser, example)
        assert clicked.status_code in (302, 303), clicked.text[:2000]
        hosted = clicked.headers["location"]
        assert hosted.startswith(f"{mrrx_url}/c/")
        session = Session.objects.get(tenant=served.tenant)
        assert session.return_url == f"{example.url}/return"
        assert session.metadata == {"started_from": "account page"}

        link = _walk_hosted_flow(
            browser, hosted, action=action, session_id=session.pk, worker=worker
        )
        assert link.startswith(f"{example.url}/return?session_id={session.pk}&outcome={action}#")

        shown, token = _return_to(browser, link)
        assert shown.status_code == 200, shown.text[:2000]
        shown_action, shown_session, text = _outcome(shown)
        assert (shown_action, shown_session) == (action, session.pk)
        expected = {
            "pause": "Your subscription is paused for 30 days.",
            "cancel": "Your subscription is canceled.",
        }[action]
        assert text == expected

        # A token that does not verify shows nothing but the refusal.
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        refused, _ = _return_to(browser, link.replace(token, forged))
        assert refused.status_code == 400 and 'id="outcome"' not in refused.text
        # And so does a post without one (the page's script found no fragment).
        refused, _ = _return_to(browser, link.replace(f"result_token={token}", "result_token="))
        assert refused.status_code == 400 and 'id="outcome"' not in refused.text

        stripe = stripe_subscription(emulator, served.seeded.subscription_id)
        if action == "pause":
            assert stripe["pause_collection"]["behavior"] == "void"
        else:
            assert stripe["cancel_at_period_end"] or stripe["status"] == "canceled"
    return session.pk


def _assert_deliveries_recorded_once_verified(example, served, worker, session_id, expected):  # type: ignore[no-untyped-def]
    events = worker.wait_until(
        lambda: (found := example.events()) and {e["type"] for e in found} >= expected and found,
        timeout=30,
    )
    assert {e["data"]["session_id"] for e in events} == {session_id}
    assert sorted(e["id"] for e in events) == sorted(
        Event.objects.filter(tenant=served.tenant).values_list("pk", flat=True)
    )
    worker.wait_until(
        lambda: set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}
    )

    # What the receiver refuses: a wrong secret, a stale timestamp, a changed body; and a
    # delivery seen before is answered but not recorded twice.
    event = Event.objects.filter(tenant=served.tenant).order_by("pk").first()
    now = int(time.time())
    hook = example.url + "/webhooks/mrrx"
    with httpx.Client(timeout=10) as mrrx_side:
        bad_secret = _signed(event, generate_secret(), at=now)
        assert mrrx_side.post(hook, content=event.body, headers=bad_secret).status_code == 400
        secret = example.webhook_secret
        stale = _signed(event, secret, at=now - 600)
        assert mrrx_side.post(hook, content=event.body, headers=stale).status_code == 400
        changed = event.body.replace(session_id, "ses_someoneelse", 1)
        fresh = _signed(event, secret, at=now)
        assert mrrx_side.post(hook, content=changed, headers=fresh).status_code == 400
        assert mrrx_side.post(hook, content=event.body, headers=fresh).status_code == 200
    assert sorted(e["id"] for e in example.events()) == sorted(e["id"] for e in events)


def test_the_django_example_round_trip(
    django_example, served, live_server, emulator, celery_worker_process
):
    session_id = _walk_to_the_verified_outcome(
        django_example,
        served,
        celery_worker_process,
        action="pause",
        emulator=emulator,
        mrrx_url=live_server.url,
    )
    _assert_deliveries_recorded_once_verified(
        django_example,
        served,
        celery_worker_process,
        session_id,
        {"session.created", "session.completed", "subscription.paused"},
    )


def test_the_flask_example_round_trip(
    flask_example, served, live_server, emulator, celery_worker_process
):
    session_id = _walk_to_the_verified_outcome(
        flask_example,
        served,
        celery_worker_process,
        action="cancel",
        emulator=emulator,
        mrrx_url=live_server.url,
    )
    _assert_deliveries_recorded_once_verified(
        flask_example,
        served,
        celery_worker_process,
        session_id,
        {"session.created", "session.completed", "subscription.canceled"},
    )


@pytest.mark.parametrize("example", ["django_example", "flask_example"])
def test_a_second_click_while_a_session_is_open_says_so(request, example):
    app = request.getfixturevalue(example)
    with httpx.Client(timeout=15) as browser:
        assert _click_cancel(browser, app).status_code in (302, 303)
        again = _click_cancel(browser, app)
    assert again.status_code == 409
    assert "already open" in again.text
