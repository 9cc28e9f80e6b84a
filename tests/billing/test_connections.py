"""Connecting a workspace's Stripe: pasted keys, Stripe Connect OAuth, disconnecting."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth.models import Permission
from django.core import signing
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.urls import reverse

from billing.gateway import gateway_for
from billing.models import StripeConnection
from billing.services import (
    StripeConnectError,
    oauth_state_issue,
    stripe_connection_connect_key,
    stripe_connection_disconnect,
)
from mrrx.crypto import decrypt
from tests.factories import MembershipFactory, UserFactory

from .conftest import MERCHANT_KEY, seed

ADD_URL = "/admin/billing/stripeconnection/add/"
CALLBACK = "/billing/stripe/oauth/callback"


def all_stored_text() -> str:
    """Every value in the connections table, as the database holds it."""
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM billing_stripeconnection")
        return " ".join(str(value) for row in cursor.fetchall() for value in row)


# --- pasted keys -------------------------------------------------------------------------
def test_a_good_restricted_key_is_checked_and_stored_encrypted(emulator, tenant):
    result = stripe_connection_connect_key(tenant=tenant, livemode=False, key=MERCHANT_KEY)

    connection = result.connection
    assert result.warnings == []
    assert (connection.method, connection.key_kind, connection.key_last4) == ("key", "rk", "1234")
    assert connection.key_hint == "rk_test_…1234"
    assert MERCHANT_KEY not in all_stored_text()
    assert decrypt(StripeConnection.objects.get().encrypted_key) == MERCHANT_KEY
    # The harmless read that proved it works, made with that key.
    assert [(r["method"], r["path"]) for r in emulator.requests()] == [("GET", "/v1/customers")]


def test_a_secret_key_is_accepted_with_a_warning(emulator, tenant):
    result = stripe_connection_connect_key(tenant=tenant, key="sk_test_full_secret_key_abcd")

    assert result.connection.key_kind == "sk"
    assert result.connection.livemode is False
    assert "restricted key" in result.warnings[0]


@pytest.mark.parametrize(
    ("key", "livemode", "message"),
    [
        ("rk_test_not-a-valid-key!", False, "Stripe refused this key"),
        ("pk_test_publishable_key_1234", False, "publishable"),
        ("hello", False, "does not look like a Stripe key"),
        ("rk_live_a_real_looking_live_key", False, "live-mode key"),
        ("rk_test_a_real_looking_test_key", True, "test-mode key"),
    ],
)
def test_a_bad_key_is_a_clear_error_and_nothing_is_stored(emulator, tenant, key, livemode, message):
    with pytest.raises(StripeConnectError) as raised:
        stripe_connection_connect_key(tenant=tenant, livemode=livemode, key=key)

    assert message in str(raised.value)
    assert StripeConnection.objects.count() == 0


def test_a_key_stripe_rejects_is_not_stored(emulator, tenant):
    emulator.fail_next(1, status=401, path_prefix="/v1/customers")

    with pytest.raises(StripeConnectError) as raised:
        stripe_connection_connect_key(tenant=tenant, key=MERCHANT_KEY)

    assert "Invalid API Key" in str(raised.value)
    assert StripeConnection.objects.count() == 0


def test_an_unreachable_stripe_does_not_store_the_key(emulator, tenant):
    emulator.fail_next(1, status=503)

    with pytest.raises(StripeConnectError) as raised:
        stripe_connection_connect_key(tenant=tenant, key=MERCHANT_KEY)

    assert "Try again" in str(raised.value)
    assert StripeConnection.objects.count() == 0


def test_connecting_again_rotates_the_key(emulator, tenant):
    stripe_connection_connect_key(tenant=tenant, key=MERCHANT_KEY)
    stripe_connection_connect_key(tenant=tenant, key="rk_test_rotated_key_9876")

    connection = StripeConnection.objects.get()
    assert decrypt(connection.encrypted_key) == "rk_test_rotated_key_9876"
    assert connection.key_last4 == "9876"


def test_test_and_live_are_separate_connections(emulator, tenant, other_tenant):
    stripe_connection_connect_key(tenant=tenant, key=MERCHANT_KEY)
    stripe_connection_connect_key(tenant=tenant, key="rk_live_live_mode_key_5555")
    stripe_connection_connect_key(tenant=other_tenant, key="rk_test_someone_else_4444")

    assert sorted(
        StripeConnection.objects.filter(tenant=tenant).values_list("livemode", "key_last4")
    ) == [(False, "1234"), (True, "5555")]
    assert gateway_for(tenant=tenant, livemode=True).livemode is True


# --- admin ---------------------------------------------------------------------------------
@pytest.fixture
def admin_client_for(client, tenant):  # type: ignore[no-untyped-def]
    user = UserFactory(is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


def test_admin_connects_by_key_and_never_shows_it_again(emulator, admin_client_for, tenant):
    response = admin_client_for.post(
        ADD_URL, {"tenant": tenant.pk, "mode": "test", "key": MERCHANT_KEY, "webhook_secret": ""}
    )

    connection = StripeConnection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/billing/stripeconnection/{connection.pk}/change/"
    page = admin_client_for.get(response["Location"]).content.decode()
    assert "rk_test_…1234" in page
    assert MERCHANT_KEY not in page
    assert f"/api/stripe/webhook/{connection.pk}" in page


def test_admin_shows_a_bad_key_as_a_form_error(emulator, admin_client_for, tenant):
    response = admin_client_for.post(
        ADD_URL,
        {"tenant": tenant.pk, "mode": "test", "key": "rk_test_bad-key!", "webhook_secret": ""},
    )

    assert response.status_code == 200
    assert "Stripe refused this key" in response.content.decode()
    assert "rk_test_bad-key!" not in response.content.decode()
    assert StripeConnection.objects.count() == 0


def test_a_member_cannot_connect_a_workspace_they_do_not_manage(
    emulator, client, tenant, other_tenant
):
    membership = MembershipFactory(tenant=tenant, role="owner")
    user = membership.user
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_stripeconnection", "view_stripeconnection"])
    )
    client.force_login(user)

    response = client.post(
        ADD_URL, {"tenant": other_tenant.pk, "mode": "test", "key": MERCHANT_KEY}
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert StripeConnection.objects.count() == 0


def test_admin_sets_the_webhook_secret_write_only(emulator, admin_client_for, key_connection):
    url = f"/admin/billing/stripeconnection/{key_connection.pk}/change/"

    response = admin_client_for.post(url, {"webhook_secret": "whsec_new_secret_value"})

    assert response.status_code == 302
    key_connection.refresh_from_db()
    assert decrypt(key_connection.encrypted_webhook_secret) == "whsec_new_secret_value"
    assert "whsec_new_secret_value" not in admin_client_for.get(url).content.decode()


def test_admin_test_connection_action_records_the_result(
    emulator, admin_client_for, key_connection
):
    emulator.fail_next(1, status=401)
    changelist = "/admin/billing/stripeconnection/"

    admin_client_for.post(
        changelist, {"action": "test_connection", "_selected_action": [key_connection.pk]}
    )
    key_connection.refresh_from_db()
    assert "Invalid API Key" in key_connection.last_check_error

    admin_client_for.post(
        changelist, {"action": "test_connection", "_selected_action": [key_connection.pk]}
    )
    key_connection.refresh_from_db()
    assert key_connection.last_check_error == ""
    assert key_connection.last_checked_at is not None


# --- OAuth (Stripe Connect) --------------------------------------------------------------
def test_the_full_oauth_dance_connects_the_workspace(emulator, admin_client_for, tenant):
    start = admin_client_for.get(
        reverse("admin:billing_stripeconnection_connect_oauth"),
        {"tenant": tenant.pk, "mode": "test"},
    )
    assert start.status_code == 302
    authorize = urlsplit(start["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == emulator.base_url
    assert authorize.path == "/oauth/authorize"
    query = parse_qs(authorize.query)
    assert query["client_id"] == ["ca_test_mrrx_platform"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["read_write"]
    assert query["redirect_uri"] == ["http://localhost:8000" + CALLBACK]

    # The merchant approves at "Stripe", which sends them back with a code and our state.
    approved = httpx.get(start["Location"], follow_redirects=False)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == CALLBACK
    assert parse_qs(back.query)["state"] == query["state"]

    done = admin_client_for.get(f"{back.path}?{back.query}")

    connection = StripeConnection.objects.get()
    assert done.status_code == 302
    assert done["Location"] == f"/admin/billing/stripeconnection/{connection.pk}/change/"
    assert (connection.tenant, connection.livemode, connection.method) == (tenant, False, "oauth")
    assert connection.account_id.startswith("acct_")
    assert connection.account_id in emulator.state()["accounts"]
    assert connection.encrypted_key == ""
    # Calls for this workspace now act as the connected account.
    theirs = seed(emulator, account=connection.account_id)
    assert gateway_for(tenant=tenant, livemode=False).subscription_get(theirs.subscription_id)
    assert (
        emulator.requests(path=f"/v1/subscriptions/{theirs.subscription_id}")[-1]["account"]
        == connection.account_id
    )


def test_a_forged_state_is_rejected_and_nothing_stored(emulator, admin_client_for, tenant):
    code = emulator.mint_oauth_code()["code"]
    forged = signing.dumps(
        {"n": "x", "t": tenant.pk, "l": False, "u": admin_client_for.user.pk}, salt="wrong"
    )

    response = admin_client_for.get(CALLBACK, {"code": code, "state": forged})

    assert response.status_code == 400
    assert "was not started here" in response.content.decode()
    assert StripeConnection.objects.count() == 0
    assert emulator.requests(path="/oauth/token") == []


def test_a_reused_state_is_rejected(emulator, admin_client_for, tenant):
    state = oauth_state_issue(tenant=tenant, livemode=False, user=admin_client_for.user)
    first = admin_client_for.get(
        CALLBACK, {"code": emulator.mint_oauth_code()["code"], "state": state}
    )
    assert first.status_code == 302
    StripeConnection.objects.all().delete()

    second = admin_client_for.get(
        CALLBACK, {"code": emulator.mint_oauth_code()["code"], "state": state}
    )

    assert second.status_code == 400
    assert "already used" in second.content.decode()
    assert StripeConnection.objects.count() == 0


def test_an_expired_state_is_rejected(emulator, admin_client_for, tenant, settings):
    state = oauth_state_issue(tenant=tenant, livemode=False, user=admin_client_for.user)
    settings.STRIPE_OAUTH_STATE_MAX_AGE = timedelta(seconds=-1)

    response = admin_client_for.get(
        CALLBACK, {"code": emulator.mint_oauth_code()["code"], "state": state}
    )

    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert StripeConnection.objects.count() == 0


def test_another_users_state_is_rejected(emulator, client, admin_client_for, tenant):
    someone_else = UserFactory(is_superuser=True)
    state = oauth_state_issue(tenant=tenant, livemode=False, user=someone_else)

    response = admin_client_for.get(
        CALLBACK, {"code": emulator.mint_oauth_code()["code"], "state": state}
    )

    assert response.status_code == 400
    assert StripeConnection.objects.count() == 0


def test_a_declined_authorization_stores_nothing(emulator, admin_client_for, tenant):
    state = oauth_state_issue(tenant=tenant, livemode=False, user=admin_client_for.user)

    response = admin_client_for.get(
        CALLBACK,
        {
            "error": "access_denied",
            "error_description": "The user denied your request",
            "state": state,
        },
    )

    assert response.status_code == 400
    assert "The user denied your request" in response.content.decode()
    assert StripeConnection.objects.count() == 0


def test_a_code_stripe_refuses_stores_nothing(emulator, admin_client_for, tenant):
    code = emulator.mint_oauth_code()["code"]
    state = oauth_state_issue(tenant=tenant, livemode=False, user=admin_client_for.user)
    admin_client_for.get(CALLBACK, {"code": code, "state": state})
    StripeConnection.objects.all().delete()
    state = oauth_state_issue(tenant=tenant, livemode=False, user=admin_client_for.user)

    response = admin_client_for.get(CALLBACK, {"code": code, "state": state})  # code spent

    assert response.status_code == 400
    assert "already used" in response.content.decode()
    assert StripeConnection.objects.count() == 0


def test_the_callback_needs_a_logged_in_staff_user(emulator, client, tenant):
    response = client.get(CALLBACK, {"code": "ac_x", "state": "y"})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_one_stripe_account_cannot_serve_two_workspaces(
    emulator, admin_client_for, tenant, other_tenant
):
    minted = emulator.mint_oauth_code()
    StripeConnection.objects.create(
        tenant=other_tenant, livemode=False, method="oauth", account_id=minted["account"]
    )
    state = oauth_state_issue(tenant=tenant, livemode=False, user=admin_client_for.user)

    response = admin_client_for.get(CALLBACK, {"code": minted["code"], "state": state})

    assert response.status_code == 400
    assert "already connected to another workspace" in response.content.decode()
    assert not StripeConnection.objects.filter(tenant=tenant).exists()


def test_disconnecting_a_connect_account_deauthorizes_it(emulator, admin_client_for, tenant):
    minted = emulator.mint_oauth_code()
    state = oauth_state_issue(tenant=tenant, livemode=False, user=admin_client_for.user)
    admin_client_for.get(CALLBACK, {"code": minted["code"], "state": state})
    connection = StripeConnection.objects.get()

    admin_client_for.post(
        "/admin/billing/stripeconnection/",
        {"action": "disconnect", "_selected_action": [connection.pk]},
    )

    assert StripeConnection.objects.count() == 0
    assert emulator.state()["accounts"][minted["account"]]["deauthorized"] is True
    (deauth,) = emulator.requests(path="/oauth/deauthorize")
    assert deauth["params"]["client_id"] == "ca_test_mrrx_platform"


def test_disconnect_keeps_the_connection_when_stripe_fails(emulator, tenant):
    minted = emulator.mint_oauth_code()
    connection = StripeConnection.objects.create(
        tenant=tenant, livemode=False, method="oauth", account_id=minted["account"]
    )
    emulator.fail_next(1, status=500, path_prefix="/oauth/deauthorize")

    with pytest.raises(Exception):
        stripe_connection_disconnect(connection=connection)

    assert StripeConnection.objects.count() == 1


def test_disconnecting_a_key_connection_forgets_the_key(emulator, key_connection):
    stripe_connection_disconnect(connection=key_connection)

    assert StripeConnection.objects.count() == 0
    assert emulator.requests(path="/oauth/deauthorize") == []


# --- the operators' command --------------------------------------------------------------
def test_stripe_connect_command_connects_and_prints_json(emulator, tenant):
    out = StringIO()

    call_command(
        "stripe_connect",
        "--tenant",
        tenant.pk,
        "--mode",
        "test",
        "--key",
        MERCHANT_KEY,
        "--webhook-secret",
        "whsec_from_the_dashboard",
        "--json",
        stdout=out,
    )

    info = json.loads(out.getvalue())
    connection = StripeConnection.objects.get()
    assert info == {
        "connection_id": connection.pk,
        "workspace": tenant.pk,
        "mode": "test",
        "method": "key",
        "key": "rk_test_…1234",
        "webhook_url": f"http://localhost:8000/api/stripe/webhook/{connection.pk}",
        "webhook_secret_set": True,
        "warnings": [],
    }
    assert decrypt(connection.encrypted_webhook_secret) == "whsec_from_the_dashboard"


def test_stripe_connect_command_refuses_a_key_of_the_other_mode(emulator, tenant):
    with pytest.raises(CommandError, match="live-mode key"):
        call_command(
            "stripe_connect",
            "--tenant",
            tenant.slug,
            "--mode",
            "test",
            "--key",
            "rk_live_wrong_mode_key_1",
        )
    assert StripeConnection.objects.count() == 0


def test_the_connect_page_offers_stripe_connect_and_a_key_form(emulator, admin_client_for):
    page = admin_client_for.get(ADD_URL)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Connect Stripe" in html
    assert 'name="key"' in html
    assert 'type="password"' in html


def test_connect_without_platform_settings_explains_and_redirects(
    emulator, admin_client_for, tenant, settings
):
    settings.STRIPE_PLATFORM_SECRET_KEY = ""

    response = admin_client_for.get(
        reverse("admin:billing_stripeconnection_connect_oauth"),
        {"tenant": tenant.pk, "mode": "live"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/billing/stripeconnection/"
    shown = admin_client_for.get(response["Location"]).content.decode()
    assert "Stripe Connect is not configured" in shown
