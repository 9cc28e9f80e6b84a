from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.urls import reverse

from offers.models import FlowConfig, Offer
from offers.selectors import flow_config_get

pytestmark = pytest.mark.django_db


class _FormFields(HTMLParser):
    """The name/value pairs a browser would submit from the page's form."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and "__prefix__" not in name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[name] = a.get("value") or "on"
            elif kind not in ("submit", "button", "file"):
                self.fields[name] = a.get("value") or ""
        elif tag == "select" and name and "__prefix__" not in name:
            self._select = name
            self.fields.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value") or ""
        elif tag == "textarea" and name and "__prefix__" not in name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._textarea:
            self.fields[self._textarea] += (
                data.removeprefix("\n") if not self.fields[self._textarea] else data
            )


def _form(html: bytes) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(html.decode())
    return parser.fields


@pytest.fixture
def operator(client):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_superuser("op", "op@example.com", "pw-op-12345")
    client.force_login(user)
    return client


@pytest.fixture
def change_page(operator, tenant):  # type: ignore[no-untyped-def]
    config = flow_config_get(tenant=tenant, livemode=False)
    url = reverse("admin:offers_flowconfig_change", args=[quote(config.pk)])
    response = operator.get(url)
    assert response.status_code == 200
    return config, url, _form(response.content)


def _add_offer(fields: dict[str, str], **offer: str) -> dict[str, str]:
    """Fill the page's empty extra offer row, as an operator would."""
    total = int(fields["offers-TOTAL_FORMS"])
    extra = total - 1
    assert fields[f"offers-{extra}-id"] == ""
    for name, value in offer.items():
        fields[f"offers-{extra}-{name}"] = value
    return fields


def test_operator_sees_the_flow_and_its_offers(operator, change_page):
    config, url, fields = change_page
    page = operator.get(url).content.decode()
    assert "Workspace" in page and "percent_off" in page
    assert json.loads(fields["reasons"]) == config.reasons
    assert int(fields["offers-INITIAL_FORMS"]) == config.offers.count() == 9


def test_operator_adds_an_offer_and_changes_settings(operator, change_page):
    config, url, fields = change_page
    _add_offer(
        fields,
        reason="too_expensive",
        position="5",
        action="downgrade",
        params=json.dumps(
            {
                "targets": {
                    "price_pro": {
                        "price_id": "price_basic",
                        "amount": 1900,
                        "currency": "USD",
                        "interval": "month",
                        "product_name": "Basic",
                        "from_amount": 2900,
                    }
                }
            }
        ),
        enabled="on",
    )
    fields["cancel_timing"] = "immediately"
    fields["_save"] = "Save"
    response = operator.post(url, fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    config.refresh_from_db()
    assert config.cancel_timing == "immediately"
    added = config.offers.get(reason="too_expensive", position=5)
    assert added.action == "downgrade"
    assert added.params["targets"]["price_pro"]["currency"] == "usd"
    assert config.offers.count() == 10


def test_invalid_params_show_the_error_and_save_nothing(operator, change_page):
    config, url, fields = change_page
    before = list(Offer.objects.filter(config=config).values())
    before_config = FlowConfig.objects.filter(pk=config.pk).values().get()
    _add_offer(
        fields,
        reason="other",
        position="3",
        action="pause",
        params=json.dumps({"months_options": [13]}),
        enabled="on",
    )
    fields["cancel_timing"] = "immediately"
    response = operator.post(url, fields)
    assert response.status_code == 200
    assert "Each pause length must be between 1 and 12 (got 13)." in response.content.decode()
    assert list(Offer.objects.filter(config=config).values()) == before
    assert FlowConfig.objects.filter(pk=config.pk).values().get() == before_config


def test_changing_an_existing_offer_to_bad_params_is_refused(operator, change_page):
    config, url, fields = change_page
    index = next(
        i
        for i in range(int(fields["offers-INITIAL_FORMS"]))
        if fields[f"offers-{i}-action"] == "discount"
    )
    offer = Offer.objects.get(pk=fields[f"offers-{index}-id"])
    fields[f"offers-{index}-params"] = json.dumps({"percent_off": 101, "duration_months": 3})
    response = operator.post(url, fields)
    assert response.status_code == 200
    assert "percent_off must be a number between 1 and 100 (got 101)." in response.content.decode()
    offer.refresh_from_db()
    assert offer.params == {"percent_off": 25, "duration_months": 3}


def test_unknown_reason_in_the_list_is_refused(operator, change_page):
    config, url, fields = change_page
    fields["reasons"] = '["other", "bored"]'
    response = operator.post(url, fields)
    assert response.status_code == 200
    assert "Unknown reason code(s): bored" in response.content.decode()
    config.refresh_from_db()
    assert "bored" not in config.reasons


def test_operator_deletes_an_offer(operator, change_page):
    config, url, fields = change_page
    fields["offers-0-DELETE"] = "on"
    deleted = fields["offers-0-id"]
    response = operator.post(url, fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not Offer.objects.filter(pk=deleted).exists()
    assert config.offers.count() == 8


def test_list_filters_by_mode(operator, tenant):
    live = flow_config_get(tenant=tenant, livemode=True)
    test = flow_config_get(tenant=tenant, livemode=False)
    for mode, shown, hidden in (("live", live, test), ("test", test, live)):
        page = operator.get(f"/admin/offers/flowconfig/?mode={mode}").content.decode()
        assert reverse("admin:offers_flowconfig_change", args=[quote(shown.pk)]) in page
        assert reverse("admin:offers_flowconfig_change", args=[quote(hidden.pk)]) not in page
