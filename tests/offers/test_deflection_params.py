"""Contact and redirect offers: their parameters as a merchant sets them, and when they show."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from offers.eligibility import URL_NOT_ALLOWED, offers_evaluate
from offers.models import Offer
from offers.selectors import flow_config_get
from offers.services import offer_create, offer_update

from .conftest import snapshot

pytestmark = pytest.mark.django_db

MESSAGE = "Tell us what is missing: we often add it within a week."


def test_a_contact_offer_keeps_its_words_and_makes_a_bare_address_a_mailto_link(config):
    offer = offer_create(
        config=config,
        reason="missing_features",
        action="contact",
        params={
            "message": f"  {MESSAGE} ",
            "email": "help@acme.example",
            "scheduling_url": "https://cal.example.com/acme/15min",
            "label": "Talk to us first",
        },
    )
    assert Offer.objects.get(pk=offer.pk).params == {
        "message": MESSAGE,
        "link": "mailto:help@acme.example",
        "scheduling_url": "https://cal.example.com/acme/15min",
        "label": "Talk to us first",
    }
    https = offer_update(
        offer=offer, params={"message": MESSAGE, "link": "https://acme.example/help"}
    )
    assert https.params == {"message": MESSAGE, "link": "https://acme.example/help"}
    mailto = offer_update(offer=offer, params={"message": MESSAGE, "link": "mailto:a@acme.example"})
    assert mailto.params["link"] == "mailto:a@acme.example"


CONTACT_BAD = [
    ({"link": "help@acme.example"}, "Missing key(s) for a contact offer: message"),
    ({"message": "", "link": "help@acme.example"}, "message must be a non-empty text"),
    ({"message": "x" * 501, "link": "help@acme.example"}, "at most 500 characters"),
    ({"message": MESSAGE}, "exactly one of link"),
    ({"message": MESSAGE, "link": "a@b.example", "email": "a@b.example"}, "exactly one of link"),
    ({"message": MESSAGE, "link": "http://acme.example/help"}, "must be an https:// URL"),
    ({"message": MESSAGE, "link": "javascript:alert(1)"}, "must be an https:// URL"),
    ({"message": MESSAGE, "link": "ftp://acme.example/"}, "must be an https:// URL"),
    ({"message": MESSAGE, "link": "mailto:not-an-address"}, "or an email address (got"),
    ({"message": MESSAGE, "email": "nobody"}, "must be an https:// URL"),
    ({"message": MESSAGE, "link": "https://u:p@acme.example/"}, "must not contain a user name"),
    (
        {"message": MESSAGE, "link": "a@b.example", "scheduling_url": "http://cal.example.com"},
        "scheduling_url must be an https:// URL",
    ),
    ({"message": MESSAGE, "link": "a@b.example", "phone": "555"}, "Unknown key(s)"),
    ({"message": MESSAGE, "link": "a@b.example", "label": "x" * 101}, "at most 100 characters"),
]


@pytest.mark.parametrize(("params", "words"), CONTACT_BAD)
def test_a_bad_contact_offer_is_refused_with_words_the_merchant_can_act_on(config, params, words):
    before = Offer.objects.count()
    with pytest.raises(ValidationError) as raised:
        offer_create(config=config, reason="other", action="contact", params=params)
    assert any(words in message for message in raised.value.message_dict["params"]), (
        raised.value.message_dict
    )
    assert Offer.objects.count() == before


def test_a_redirect_offer_goes_only_to_an_https_page_on_the_allowlist(config, other_tenant):
    # The factory's workspace allows https://app.example.com; the other one its own site.
    other_tenant.return_url_allowlist = ["https://other.example"]
    other_tenant.save()
    offer = offer_create(
        config=config,
        reason="too_expensive",
        action="redirect",
        params={"url": "https://app.example.com/plans/starter", "label": "See Starter"},
    )
    assert offer.params == {"url": "https://app.example.com/plans/starter", "label": "See Starter"}
    refused = {
        "https://other.example/help": "is not on this workspace's return URL allowlist",
        "https://evil.example/phish": "is not on this workspace's return URL allowlist",
        "http://app.example.com/help": "url must be an https:// URL",
        "javascript:alert(1)": "url must be an https:// URL",
        "https://app.example.com/help#top": "must not have a #fragment",
        "": "url must be an https:// URL",
    }
    for url, words in refused.items():
        with pytest.raises(ValidationError) as raised:
            offer_update(offer=offer, params={"url": url})
        assert any(words in m for m in raised.value.message_dict["params"]), (url, raised.value)
    offer.refresh_from_db()
    assert offer.params["url"] == "https://app.example.com/plans/starter"
    with pytest.raises(ValidationError, match="Missing key"):
        offer_update(offer=offer, params={"label": "No url"})


def test_a_redirect_shows_unless_disabled_or_its_url_left_the_allowlist(config, only_offer):
    offer = only_offer("redirect", {"url": "https://app.example.com/help"})
    contact = offer_create(
        config=config,
        reason="other",
        action="contact",
        params={"message": MESSAGE, "email": "a@acme.example"},
    )

    def decide():  # type: ignore[no-untyped-def]
        fresh = flow_config_get(tenant=config.tenant, livemode=False)
        return {
            d.action: (d.shown, d.reason)
            for d in offers_evaluate(
                config=fresh,
                reason="other",
                subscription=snapshot(paused=True, discount_coupon_ids=["c"]),
                recent_discount_accepted=True,
            )
        }

    # Nothing about the subscription holds them back: paused, discounted, whatever.
    assert decide() == {"redirect": (True, None), "contact": (True, None)}
    tenant = config.tenant
    tenant.return_url_allowlist = ["https://elsewhere.example"]
    tenant.save()
    assert decide()["redirect"] == (False, URL_NOT_ALLOWED)
    tenant.return_url_allowlist = ["https://app.example.com"]
    tenant.save()
    offer_update(offer=offer, enabled=False)
    offer_update(offer=contact, enabled=False)
    assert decide() == {"redirect": (False, "disabled"), "contact": (False, "disabled")}
