"""The subscriber's pages in English, French, German, Spanish and Portuguese (Brazil).

The catalogues first: every string of the hosted flow, the hub, receipts and their error
pages (templates and the Python that words them) has a reviewed translation in each
language, with the same placeholders, and the compiled catalogues are those translations.
Then the pages as a subscriber gets them: in the session's language, else the browser's,
else the workspace's, with dates and amounts written the way that language writes them.
"""

from __future__ import annotations

import gettext
import re
from datetime import datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
from babel.messages.catalog import Message
from babel.messages.plurals import get_plural
from django.core import mail
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from hub.models import HubSession
from mrrx.catalogues import (
    catalogue_path,
    catalogue_read,
    message_problems,
    messages_extract,
    translated_languages,
)
from mrrx.languages import language_choose, language_from_header, language_supported
from sessions_app.models import Session
from sessions_app.presentation import money
from sessions_app.tokens import session_token
from tests.factories import MembershipFactory, UserFactory
from tests.hub.conftest import HubClient, hub_shop, page_path  # noqa: F401
from tests.sessions.conftest import (  # noqa: F401 - the Stripe emulator and a connected shop
    FlowClient,
    emulator,
    shop,
    stripe_emulator,
)
from tests.sessions.test_receipts import completed, sent_for
from webhooks.models import Event

NBSP = "\u00a0"
LANGUAGES = ["en", "fr", "de", "es", "pt-br"]
MONTHS = {
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
    "pt-br": "Janeiro Fevereiro Março Abril Maio Junho Julho Agosto Setembro Outubro Novembro "
    "Dezembro",
}
EN_MONTHS = "Jan. Feb. March April May June July Aug. Sept. Oct. Nov. Dec."
# What the reason page says in each language, and how it writes Pro's $29.00 a month.
REASON_PAGE = {
    "en": ("We're sorry to see you go", "Too expensive", "$29.00 / month", "Current period ends"),
    "fr": (
        "Nous sommes désolés de vous voir partir",
        "Trop cher",
        f"29,00{NBSP}$US / mois",
        "La période en cours se termine le",
    ),
    "de": (
        "Schade, dass Sie gehen möchten",
        "Zu teuer",
        f"29,00{NBSP}$ / Monat",
        "Der aktuelle Abrechnungszeitraum endet am",
    ),
    "es": (
        "Lamentamos que te vayas",
        "Demasiado caro",
        f"29,00{NBSP}US$ / mes",
        "El periodo actual termina el",
    ),
    "pt-br": (
        "Lamentamos ver você partir",
        "Muito caro",
        f"US${NBSP}29,00 / mês",
        "O período atual termina em",
    ),
}


def written_date(language: str, value: datetime) -> str:
    """A day as each language writes it in full, spelled out here rather than computed."""
    if language == "en":
        return f"{EN_MONTHS.split()[value.month - 1]} {value.day}, {value.year}"
    month = MONTHS[language].split()[value.month - 1]
    if language == "fr":
        return f"{value.day} {month} {value.year}"
    if language == "de":
        return f"{value.day}. {month} {value.year}"
    return f"{value.day} de {month} de {value.year}"


def text_of(response: Any) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html)))


def html_lang(response: Any) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match, response.content.decode()[:300]
    return match.group(1)


def flow_path(created: Any) -> str:
    assert created.status_code == 201, created.content
    return urlsplit(created.json()["url"]).path


# --- The catalogues ---------------------------------------------------------------------------
@pytest.mark.parametrize("language", translated_languages())
def test_every_string_of_the_subscribers_pages_is_translated(language):
    """Fails on a string added to a template or a subscriber-facing module without a
    translation (`manage.py messages_update` adds it to the catalogues, empty), on an empty
    or fuzzy one, on placeholders that differ, and on strings no longer used."""
    source = messages_extract()
    catalog = catalogue_read(language)
    assert catalog is not None, f"{catalogue_path(language)} is missing"
    expected_plurals = get_plural(catalog.locale)
    assert (catalog.num_plurals, catalog.plural_expr) == (
        expected_plurals.num_plurals,
        expected_plurals.plural_expr,
    )
    wanted = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in source if m.id}
    have = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}
    problems = [f"missing: {key[1]!r}" for key in wanted.keys() - have.keys()]
    problems += [f"no longer used: {key[1]!r}" for key in have.keys() - wanted.keys()]
    for key in wanted.keys() & have.keys():
        problems += [f"{key[1]!r}: {p}" for p in message_problems(have[key], wanted[key])]
    assert not problems, f"{catalogue_path(language)}:\n" + "\n".join(sorted(problems))


def test_the_check_catches_what_a_translator_can_get_wrong():
    source = Message("Back to %(name)s")
    assert message_problems(Message("Back to %(name)s", "Retour à %(name)s"), source) == []
    assert message_problems(Message("Back to %(name)s", ""), source) == ["not translated"]
    assert message_problems(Message("Back to %(name)s", "Retour à %(nom)s"), source)
    assert message_problems(Message("Back to %(name)s", "Retour"), source)
    assert "marked fuzzy" in message_problems(
        Message("Back to %(name)s", "Retour à %(name)s", flags=["fuzzy"]), source
    )
    plural = Message(("%(n)s month", "%(n)s months"))
    assert message_problems(Message(plural.id, ("%(n)s mois", "%(n)s mois")), plural) == []
    assert message_problems(Message(plural.id, ("%(n)s mois", "")), plural) == ["not translated"]
    assert message_problems(Message(plural.id, ("%(n)s mois", "mois")), plural)
    assert message_problems(Message("%(n)s month", "%(n)s mois"), plural)


@pytest.mark.parametrize("language", translated_languages())
def test_the_compiled_catalogues_are_the_translations(language):
    """The .mo files Django reads are built by `make install`; stale ones mean it was not
    run since the .po changed."""
    mo = catalogue_path(language).with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run make install"
    with mo.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    for message in catalogue_read(language) or []:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            assert compiled.ngettext(*message.id, 1) == message.string[0], "run make install"
            assert compiled.ngettext(*message.id, 7) == message.string[-1], "run make install"
        else:
            assert compiled.gettext(message.id) == message.string, "run make install"


# --- Which language -------------------------------------------------------------------------
def test_the_browsers_most_wanted_language_that_mrrx_speaks():
    assert language_from_header("de-CH, fr;q=0.9, en;q=0.8") == "de"
    assert language_from_header("ja, fr-CA;q=0.7, es;q=0.8") == "es"
    assert language_from_header("pt-BR,pt;q=0.9") == "pt-br"
    assert language_from_header("pt-PT") == "pt-br"
    assert language_from_header("en-GB,en;q=0.9,fr;q=0.8") == "en"
    assert language_from_header("fr;q=0, de") == "de"
    assert language_from_header("ja, zh;q=0.9, *;q=0.5") is None
    assert language_from_header("") is None
    assert language_from_header("x" * 600) is None


def test_a_locale_names_a_language_mrrx_speaks_or_none():
    assert language_supported("fr") == "fr"
    assert language_supported("FR-ca") == "fr"
    assert language_supported("pt_BR") == "pt-br"
    assert language_supported("es-419") == "es"
    assert language_supported("ja") is None
    assert language_supported("klingon-!") is None
    assert language_supported("") is None
    assert language_choose(chosen="", default="de") == "de"
    assert language_choose(chosen="", default="ja") == "en"


@pytest.mark.parametrize(
    ("language", "cents", "currency", "written"),
    [
        ("en", 2900, "usd", "$29.00"),
        ("en", 2900, "chf", f"CHF{NBSP}29.00"),
        ("en", 2900, "jpy", "¥2,900"),
        ("fr", 2900, "usd", f"29,00{NBSP}$US"),
        ("fr", 2900, "eur", f"29,00{NBSP}€"),
        ("de", 2900, "eur", f"29,00{NBSP}€"),
        ("de", 123456, "eur", f"1.234,56{NBSP}€"),
        ("es", 2900, "eur", f"29,00{NBSP}€"),
        ("pt-br", 2900, "usd", f"US${NBSP}29,00"),
        ("pt-br", 2900, "brl", f"R${NBSP}29,00"),
    ],
)
def test_money_is_written_the_way_the_language_writes_it(language, cents, currency, written):
    with translation.override(language):
        assert money(cents, currency) == written


# --- The cancel flow ----------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_flow_speaks_the_sessions_locale(shop, language):
    created = shop.create(locale={"pt-br": "pt-BR"}.get(language, language))
    session = Session.objects.get(pk=created.json()["id"])
    assert session.locale == language
    # The session's language wins over the browser's.
    page = FlowClient().get(flow_path(created), HTTP_ACCEPT_LANGUAGE="ja, de;q=0.5")
    assert page.status_code == 200
    assert html_lang(page) == language and page["Content-Language"] == language
    heading, reason, price, period = REASON_PAGE[language]
    text = text_of(page)
    assert heading in text and reason in text and f"Pro Plan · {price}" in text
    ends = parse_datetime(session.subscription_snapshot["current_period_end"])
    assert f"{period} {written_date(language, ends)}" in text


@pytest.mark.django_db
def test_without_a_locale_the_flow_speaks_the_browsers_language(shop):
    created = shop.create()
    page = FlowClient().get(flow_path(created), HTTP_ACCEPT_LANGUAGE="de-CH,de;q=0.9,en;q=0.7")
    assert html_lang(page) == "de"
    text = text_of(page)
    assert "Warum möchten Sie kündigen?" in text and "Direkt zur Kündigung" in text
    assert f"29,00{NBSP}$ / Monat" in text
    assert "Accept-Language" in page["Vary"]


@pytest.mark.django_db
def test_otherwise_the_flow_speaks_the_workspaces_default(shop):
    shop.tenant.default_locale = "es"
    shop.tenant.save()
    path = flow_path(shop.create())
    for header in ({"HTTP_ACCEPT_LANGUAGE": "ja, zh;q=0.8"}, {}):
        page = FlowClient().get(path, **header)
        assert html_lang(page) == "es"
        assert "¿Por qué quieres cancelar?" in text_of(page)


@pytest.mark.django_db
def test_offers_and_confirmation_in_french_with_dates_and_amounts_in_french(shop):
    created = shop.create(locale="fr")
    path, browser = flow_path(created), FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "too_expensive"})
    offers = text_of(browser.get(path))
    assert "Avant de partir, l'une de ces offres pourrait-elle vous convenir" in offers
    assert "Non merci, résilier mon abonnement" in offers
    session = Session.objects.get(pk=created.json()["id"])
    ends = parse_datetime(session.subscription_snapshot["current_period_end"])
    assert f"Vous conservez l'accès jusqu'au {written_date('fr', ends)}." in offers
    browser.post(path, {"step": "offer", "action": "cancel"})
    confirm = text_of(browser.get(path))
    assert "Veuillez confirmer" in confirm
    assert "Résilier mon abonnement à la fin de la période en cours" in confirm


@pytest.mark.django_db
def test_a_wrong_answer_is_explained_in_the_sessions_language(shop):
    path, browser = flow_path(shop.create(locale="de")), FlowClient()
    browser.get(path)
    response = browser.post(path, {"step": "reason", "reason": "no_such_reason"})
    assert response.status_code == 400
    assert "Bitte wählen Sie einen der aufgeführten Gründe." in text_of(response)


@pytest.mark.django_db
def test_error_pages_speak_the_browsers_language_or_the_sessions(shop):
    page = FlowClient().get("/c/not-a-token", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert page.status_code == 401 and html_lang(page) == "fr"
    assert "Ce lien n'est pas valide" in text_of(page)

    session = Session.objects.get(pk=shop.create(locale="de").json()["id"])
    expired = session_token(
        session_id=session.id,
        tenant_id=session.tenant_id,
        livemode=session.livemode,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    page = FlowClient().get(f"/c/{expired}", HTTP_ACCEPT_LANGUAGE="fr")
    assert page.status_code == 410 and html_lang(page) == "de"
    assert "Dieser Link ist abgelaufen" in text_of(page)
    assert "Kündigungslinks sind 24 Stunden gültig." in text_of(page)


# --- Session creation ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("locale", ["klingon", "ja", "français", "en_US.UTF-8", "12"])
def test_an_unknown_locale_is_refused_and_nothing_is_created(shop, locale):
    response = shop.create(locale=locale)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "locale" in error["details"]
    assert not Session.objects.exists()
    assert not Event.objects.filter(type="session.created").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("locale", "stored"), [("fr-CA", "fr"), ("pt_BR", "pt-br"), ("DE", "de"), ("es-419", "es")]
)
def test_a_regional_locale_takes_its_language(shop, locale, stored):
    response = shop.create(locale=locale)
    assert response.status_code == 201, response.content
    assert Session.objects.get(pk=response.json()["id"]).locale == stored


# --- The flow API ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_flow_api_answers_in_the_sessions_language(shop):
    created = shop.create(locale="es").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    before = translation.get_language()
    response = client.get("/api/v1/flow", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200 and response["Content-Language"] == "es"
    body = response.json()
    assert {"code": "too_expensive", "label": "Demasiado caro"} in body["reasons"]
    assert body["subscription"]["price"]["display"] == f"29,00{NBSP}US$ / mes"
    assert body["subscription"]["period_display"].startswith("El periodo actual termina el ")

    refused = client.post("/api/v1/flow/survey", {"reason": "nope"}, format="json")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["message"] == "validation_error: revisa tu respuesta."
    assert error["details"]["reason"] == "Elige uno de los motivos de la lista."
    # The thread speaks what it spoke before: nothing leaks into the next request.
    assert translation.get_language() == before


@pytest.mark.django_db
def test_the_merchants_side_stays_in_english(shop):
    response = shop.client.post("/api/v1/sessions", {}, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "validation_error: the request failed validation."
    )
    user = UserFactory()
    MembershipFactory(user=user, tenant=shop.tenant, role="owner")
    owner = FlowClient()
    owner.force_login(user)
    page = owner.get(f"/admin/tenants/tenant/{shop.tenant.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Change workspace" in page.content.decode()


# --- Receipts -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_receipt_in_french(tenant):
    tenant.name = "Acme"
    tenant.support_email = "aide@acme.example"
    tenant.save()
    details = {"pause_duration_days": 60, "resume_date": "2027-03-03T00:00:00Z"}
    message = sent_for(completed(tenant, "pause", details, locale="fr"))
    assert message.subject == "Votre abonnement est en pause"
    body = message.body
    assert body.startswith("Bonjour,")
    assert "Ce message confirme une modification de votre abonnement Pro chez Acme." in body
    assert "Votre abonnement est en pause jusqu'au 3 mars 2027." in body
    assert "Aucun paiement n'est prélevé pendant la pause." in body
    assert f"Le 3 mars 2027, il reprendra à 29,00{NBSP}$US par mois." in body
    assert f"Référence{NBSP}: ses_" in body
    assert f"Des questions{NBSP}? Répondez simplement à cet e-mail." in body
    html = message.alternatives[0][0]
    assert '<html lang="fr">' in html and "Votre abonnement est en pause jusqu&#x27;au" in html
    assert len(mail.outbox) == 1


# --- The hub ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_hub_in_german_from_the_browser(hub_shop):  # noqa: F811
    created = hub_shop.open()
    page = HubClient().get(page_path(created["url"]), HTTP_ACCEPT_LANGUAGE="de-AT,de;q=0.9")
    assert page.status_code == 200 and html_lang(page) == "de"
    text = text_of(page)
    assert "Ihre Abonnements" in text and "Aktiv" in text and "Abonnement kündigen" in text
    assert f"Pro Plan {'29,00' + NBSP}$ / Monat" in text
    months = MONTHS["de"].replace(" ", "|")
    assert re.search(rf"Nächste Rechnung: 29,00{NBSP}\$ am \d{{1,2}}\. ({months}) \d{{4}}", text)


@pytest.mark.django_db
def test_a_hub_locale_carries_into_the_cancellation_it_opens(hub_shop):  # noqa: F811
    refused = hub_shop.create(locale="xx")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
    assert not HubSession.objects.exists()

    created = hub_shop.open(locale="pt-BR")
    assert HubSession.objects.get(pk=created["id"]).locale == "pt-br"
    browser, path = HubClient(), page_path(created["url"])
    page = browser.get(path, HTTP_ACCEPT_LANGUAGE="fr")
    assert html_lang(page) == "pt-br" and "Suas assinaturas" in text_of(page)
    flow = browser.post(
        path, {"action": "cancel", "subscription": hub_shop.customer.pro_subscription_id}
    )
    assert flow.status_code == 302
    assert Session.objects.get(hub_session_id=created["id"]).locale == "pt-br"
    assert "Por que você quer cancelar?" in text_of(browser.get(flow["Location"]))


# --- Admin ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_owner_chooses_the_workspaces_default_language(tenant):
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role="owner")
    owner = FlowClient()
    owner.force_login(user)
    url = f"/admin/tenants/tenant/{tenant.pk}/change/"
    page = owner.get(url).content.decode()
    select = re.search(r'<select name="default_locale".*?</select>', page, re.S)
    assert select is not None
    assert re.findall(r'<option value="([^"]+)"', select.group()) == LANGUAGES
    form = {
        "name": tenant.name,
        "brand_color": tenant.brand_color,
        "return_url_allowlist": "[]",
        "receipts_enabled": "on",
        "default_locale": "pt-br",
        "_save": "Save",
    }
    response = owner.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.default_locale == "pt-br"
    response = owner.post(url, {**form, "default_locale": "ja"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
