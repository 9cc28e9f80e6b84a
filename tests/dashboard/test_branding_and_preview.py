"""Branding (logo, colour, support email) as subscribers see it, and the flow preview."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from offers.models import FlowConfig
from offers.selectors import flow_config_get
from sessions_app.models import Session
from sessions_app.tokens import session_token
from tests.offers.test_admin import _add_offer, _form

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _png(size: tuple[int, int] = (64, 32), color: str = "#336699") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _branding(tenant, **changes) -> dict:
    data = {
        "name": tenant.name,
        "brand_color": "#112233",
        "support_email": "help@alpha.example.com",
        "return_url_allowlist": json.dumps(tenant.return_url_allowlist),
        "default_return_url": tenant.default_return_url,
        "_save": "Save",
    }
    data.update(changes)
    return data


@pytest.fixture
def owner(merchant_client, tenant):
    return merchant_client(tenant, "owner")


def _hosted_page(client, tenant) -> str:
    expires = timezone.now() + timedelta(hours=1)
    session = Session.objects.create(
        tenant=tenant, livemode=False, customer_id="cus_b", subscription_id="sub_b",
        expires_at=expires, price_amount=2900, price_currency="usd", price_interval="month",
    )  # fmt: skip
    token = session_token(
        session_id=session.id, tenant_id=tenant.pk, livemode=False, expires_at=expires
    )
    response = client.get(f"/c/{token}")
    assert response.status_code == 200
    return response.content.decode()


def test_an_owner_brands_the_hosted_pages_with_an_uploaded_logo(owner, tenant, client, settings):
    settings.EMBEDDED = True  # the embedded default serves uploads itself
    logo = SimpleUploadedFile("../../evil name.png", _png(), content_type="image/png")
    response = owner.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/", _branding(tenant, logo=logo)
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.brand_color == "#112233"
    assert re.fullmatch(
        r"logos/[0-9a-f]{16}\.png", tenant.logo.name
    )  # nothing of the upload's name

    page = _hosted_page(client, tenant)
    assert f'src="/media/{tenant.logo.name}"' in page
    assert "--brand: #112233" in page and "help@alpha.example.com" in page
    served = client.get(f"/media/{tenant.logo.name}")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == _png()
    assert served["X-Content-Type-Options"] == "nosniff"


def test_production_leaves_uploads_to_the_web_server(client, settings, tmp_path):
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "a.png").write_bytes(_png())
    settings.EMBEDDED, settings.DEBUG = False, False
    assert client.get("/media/logos/a.png").status_code == 404
    settings.DEBUG = True
    assert client.get("/media/logos/a.png").status_code == 200


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("logo.png", b"I am plainly text, not a picture.", "must be a PNG, JPEG or WebP image"),
        ("logo.png", _png() + b"\0" * (512 * 1024), "the limit is 512 KB"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
         "must be a PNG, JPEG or WebP image"),
        ("logo.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "use PNG, JPEG or WebP"),
    ],
)  # fmt: skip
def test_a_logo_that_is_not_a_small_image_is_refused(owner, tenant, name, content, message):
    if name.endswith(".gif"):
        out = io.BytesIO()
        Image.new("RGB", (4, 4)).save(out, format="GIF")
        content = out.getvalue()
    logo = SimpleUploadedFile(name, content, content_type="image/png")

    response = owner.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/", _branding(tenant, logo=logo)
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    tenant.refresh_from_db()
    assert not tenant.logo and tenant.brand_color != "#112233"


@pytest.mark.parametrize("color", ["red", "#12345", "#1234567", "#gggggg"])
def test_a_brand_colour_must_be_hex(owner, tenant, color):
    response = owner.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/", _branding(tenant, brand_color=color)
    )
    assert response.status_code == 200 and "#RRGGBB" in response.content.decode()


def test_merchants_may_not_raise_their_own_rate_limits(owner, tenant):
    owner.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        _branding(tenant, rate_limit_overrides='{"sessions.create": 100000}', slug="taken"),
    )
    tenant.refresh_from_db()
    assert tenant.rate_limit_overrides == {} and tenant.slug != "taken"


# --- Flow configuration: errors that explain themselves, and the preview ------------------
@pytest.fixture
def flow_admin(merchant_client, tenant):
    return merchant_client(tenant, "admin")


@pytest.mark.parametrize(
    "action, params, message",
    [
        ("downgrade", {"targets": {"price_pro": {"price_id": "price_max", "amount": 4900,
                       "currency": "usd", "interval": "month", "from_amount": 2900}}},
         "is not cheaper than price_pro"),
        ("downgrade", {"targets": {"price_pro": {"price_id": "price_eur", "amount": 900,
                       "currency": "eur", "interval": "month", "from_amount": 2900,
                       "from_currency": "usd"}}}, "a downgrade keeps the currency"),
        ("downgrade", {"targets": {"price_pro": {"price_id": "price_year", "amount": 900,
                       "currency": "usd", "interval": "year", "from_amount": 2900,
                       "from_interval": "month"}}}, "a downgrade keeps the billing interval"),
        ("pause", {"months_options": [0, 13]}, "between 1 and 12"),
        ("discount", {"percent_off": 150, "duration_months": 3}, "between 1 and 100"),
    ],
)  # fmt: skip
def test_offer_errors_show_on_the_form_for_a_workspace_admin(
    flow_admin, tenant, action, params, message
):
    config = flow_config_get(tenant=tenant, livemode=False)
    url = f"/admin/offers/flowconfig/{config.pk}/change/"
    fields = _add_offer(
        _form(flow_admin.get(url).content), reason="too_expensive", position="7", action=action,
        params=json.dumps(params), enabled="on",
    )  # fmt: skip
    before = config.offers.count()

    response = flow_admin.post(url, fields)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert config.offers.count() == before


def test_the_change_page_links_the_preview(flow_admin, tenant):
    config = flow_config_get(tenant=tenant, livemode=False)
    page = flow_admin.get(f"/admin/offers/flowconfig/{config.pk}/change/").content.decode()
    assert f'href="/admin/flow-preview/{config.pk}/"' in page


def test_the_preview_walks_the_whole_flow_and_writes_nothing(merchant_client, tenant):
    flow_admin = Client(enforce_csrf_checks=True)  # as a browser posts the flow's forms
    flow_admin.cookies = merchant_client(tenant, "admin").cookies
    config = flow_config_get(tenant=tenant, livemode=False)
    url = f"/admin/flow-preview/{config.pk}/"

    first = flow_admin.get(url)
    assert first.status_code == 200
    assert (
        "Preview (test mode)" in first.content.decode()
        and "Too expensive" in first.content.decode()
    )

    step = flow_admin.post(url, {"step": "reason", "reason": "too_expensive"})
    assert step.status_code == 302
    offers = flow_admin.get(step["Location"]).content.decode()
    assert "Before you go" in offers and "No thanks, cancel my subscription" in offers
    action = re.search(r'name="action" id="offer-[a-z_]+" value="([a-z_]+)"', offers).group(1)

    step = flow_admin.post(
        step["Location"], {"step": "offer", "action": action, "pause_months": "2"}
    )
    confirm = flow_admin.get(step["Location"]).content.decode()
    assert 'id="confirm"' in confirm
    # As in the real flow: feedback is optional on the confirm page, and cancelling
    # instead is one click away.
    assert 'name="feedback"' in confirm and 'id="skip-to-cancel"' in confirm
    step = flow_admin.post(
        step["Location"], {"step": "confirm", "action": action, "feedback": "just looking"}
    )
    result = flow_admin.get(step["Location"]).content.decode()
    assert "Done" in result

    assert Session.objects.count() == 0


def test_the_preview_skips_to_cancel_as_the_flow_does(merchant_client, tenant):
    flow_admin = Client(enforce_csrf_checks=True)
    flow_admin.cookies = merchant_client(tenant, "admin").cookies
    config = flow_config_get(tenant=tenant, livemode=False)
    url = f"/admin/flow-preview/{config.pk}/"

    first = flow_admin.get(url).content.decode()
    assert 'id="skip-to-cancel"' in first  # a workspace made now is strict

    step = flow_admin.post(url, {"step": "cancel"})
    confirm = flow_admin.get(step["Location"]).content.decode()
    assert 'id="confirm"' in confirm and "cancel" in confirm.lower()
    assert 'name="action" value="cancel"' in confirm
    result = flow_admin.get(
        flow_admin.post(step["Location"], {"step": "confirm", "action": "cancel"})["Location"]
    ).content.decode()
    assert "Your subscription is canceled" in result
    assert Session.objects.count() == 0


def test_the_preview_shows_a_cheaper_plan_when_a_downgrade_is_configured(flow_admin, tenant):
    config = flow_config_get(tenant=tenant, livemode=False)
    target = {"price_id": "price_basic", "amount": 1900, "currency": "usd", "interval": "month",
              "product_name": "Basic", "from_amount": 2900}  # fmt: skip
    config.offers.filter(action="downgrade").update(params={"targets": {"price_pro": target}})
    page = flow_admin.get(f"/admin/flow-preview/{config.pk}/?step=offers&reason=too_expensive")
    assert "Switch to Basic" in page.content.decode()


def test_the_preview_is_scoped_and_role_checked(merchant_client, tenant, other_tenant):
    mine = flow_config_get(tenant=tenant, livemode=False)
    theirs = flow_config_get(tenant=other_tenant, livemode=False)
    assert (
        merchant_client(tenant, "admin").get(f"/admin/flow-preview/{theirs.pk}/").status_code == 404
    )
    assert (
        merchant_client(tenant, "viewer").get(f"/admin/flow-preview/{mine.pk}/").status_code == 403
    )
    assert FlowConfig.objects.count() >= 2
