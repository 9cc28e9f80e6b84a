"""mrrx.js on a merchant's page: the flow in a modal iframe, the outcome verified and
handed to the merchant's callback."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sessions_app.models import Session

from .conftest import offers_only, stripe_subscription

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE = """<!doctype html><html><head><title>Acme account</title>
<script src="{mrrx}/static/mrrx.js"></script></head><body>
<button id="cancel">Cancel subscription</button><pre id="out"></pre>
<script>
document.getElementById("cancel").onclick = function () {{
  MRRX.open({url!r}, {{ onComplete: function (result) {{
    document.getElementById("out").textContent = JSON.stringify(result);
  }} }});
}};
</script></body></html>"""


class MerchantSite:
    """The merchant's own site, on another origin than MRRX."""

    def __init__(self) -> None:
        self.html = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def merchant_site():
    site = MerchantSite()
    yield site
    site.close()


def test_embedded_flow_hands_the_verified_outcome_to_the_merchant(
    chromium, hosted, live_server, celery_worker_process, emulator, merchant_site, shots
):
    hosted.tenant.return_url_allowlist = [live_server.url, merchant_site.url]
    hosted.tenant.save()
    created = hosted.create(return_url=f"{merchant_site.url}/account").json()
    merchant_site.html = PAGE.format(mrrx=live_server.url, url=created["url"])

    page = chromium.new_page()
    page.goto(f"{merchant_site.url}/account")
    page.click("#cancel")
    flow = page.frame_locator("iframe")
    flow.get_by_role("button", name="Too expensive").click()
    shots.take(page, "embedded-offers")
    flow.get_by_role("button", name="No thanks, cancel my subscription").click()
    flow.get_by_role("button", name="Cancel my subscription", exact=True).click()
    page.wait_for_function("document.getElementById('out').textContent.length > 0", timeout=30_000)
    shots.take(page, "merchant-callback")
    result = json.loads(page.text_content("#out"))
    assert result["valid"] is True and result["session_id"] == created["id"]
    assert result["outcome"]["action"] == "cancel"
    # The modal is gone and the merchant's page stayed where it was.
    assert page.locator("iframe").count() == 0
    assert page.url == f"{merchant_site.url}/account"
    assert stripe_subscription(emulator, hosted.seeded.subscription_id)["cancel_at_period_end"]
    page.close()


def test_a_redirect_offer_taken_in_the_modal_leads_the_whole_page_to_the_merchants_page(
    chromium, hosted, live_server, emulator, merchant_site
):
    hosted.tenant.return_url_allowlist = [
        live_server.url,
        merchant_site.url,
        "https://app.example.com",
    ]
    hosted.tenant.save()
    offers_only(
        hosted.tenant,
        "too_expensive",
        ("redirect", {"url": "https://app.example.com/plans", "label": "See our cheaper plans"}),
    )
    created = hosted.create(return_url=f"{merchant_site.url}/account").json()
    merchant_site.html = PAGE.format(mrrx=live_server.url, url=created["url"])

    page = chromium.new_page()
    # Which frame goes to the merchant's plans page (not served here: only where to).
    went: list[tuple[str, bool]] = []
    page.on(
        "request",
        lambda request: (
            went.append((request.url, request.frame == page.main_frame))
            if request.url.startswith("https://app.example.com/")
            else None
        ),
    )
    page.goto(f"{merchant_site.url}/account")
    page.click("#cancel")
    flow = page.frame_locator("iframe")
    flow.get_by_role("button", name="Too expensive").click()
    flow.get_by_text("See our cheaper plans").wait_for()
    flow.get_by_role("button", name="Accept this offer").click()

    # The merchant's page itself moves on, not the modal's frame.
    deadline = time.monotonic() + 30
    while not went and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert went == [(f"https://app.example.com/plans?session_id={created['id']}", True)]
    session = Session.objects.get(pk=created["id"])
    assert (session.status, session.outcome_action) == ("completed", "redirect")
