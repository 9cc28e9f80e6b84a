"""Members: the operators' member_add command, owners adding people in admin, sign-in."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
LINK = re.compile(r"https?://\S+/admin/reset/[^/\s]+/[^/\s]+/")


def _member_add(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    kwargs = {"stdout": out}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command("member_add", *args, **kwargs)
    return out.getvalue()


def _sign_in(username: str, password: str) -> Client:
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def test_member_add_with_a_password_from_stdin_signs_in_as_a_merchant(tenant):
    out = _member_add(
        "--tenant", tenant.slug, "--email", "Ann@Example.com", "--role", "admin",
        "--password-stdin", stdin="a long enough passphrase 42\n",
    )  # fmt: skip

    assert "ann@example.com is admin of" in out and "new user" in out
    assert not LINK.search(out)
    user = get_user_model().objects.get(email="ann@example.com")
    assert user.is_staff and not user.is_superuser
    assert Membership.objects.get(user=user).role == "admin"
    client = _sign_in("ann@example.com", "a long enough passphrase 42")
    assert client.get("/admin/offers/flowconfig/").status_code == 200


def test_member_add_without_a_password_prints_a_one_time_link_that_sets_it(tenant):
    out = json.loads(
        _member_add(
            "--tenant", tenant.pk, "--email", "bo@example.com", "--role", "viewer", "--json"
        )
    )
    assert out["user_created"] and out["role"] == "viewer"
    link = out["set_password_url"]
    assert LINK.match(link)
    path = link.split("://", 1)[1].split("/", 1)[1]

    browser = Client()
    form = browser.get(f"/{path}", follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    done = browser.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand new passphrase 7", "new_password2": "brand new passphrase 7"},
    )
    assert done.status_code == 302
    _sign_in("bo@example.com", "brand new passphrase 7")
    # Used once, the link is stale.
    again = Client().get(f"/{path}", follow=True)
    assert b"new_password1" not in again.content


def test_member_add_refuses_a_weak_password_and_an_unknown_workspace(tenant):
    with pytest.raises(CommandError, match="too short|too common"):
        _member_add(
            "--tenant", tenant.slug, "--email", "c@example.com", "--role", "owner",
            "--password-stdin", stdin="abc\n",
        )  # fmt: skip
    with pytest.raises(CommandError, match="No workspace"):
        _member_add("--tenant", "nope", "--email", "c@example.com", "--role", "owner")
    assert not get_user_model().objects.filter(email="c@example.com").exists()


def test_member_add_changes_the_role_of_an_existing_member_without_a_link(tenant):
    existing = UserFactory(username="dee@example.com", email="dee@example.com")
    MembershipFactory(user=existing, tenant=tenant, role="viewer")

    out = _member_add("--tenant", tenant.slug, "--email", "dee@example.com", "--role", "owner")

    assert Membership.objects.get(user=existing, tenant=tenant).role == "owner"
    assert not LINK.search(out)  # they have a password: no way in for whoever ran this


@pytest.fixture
def owner(merchant_client, tenant):
    return merchant_client(tenant, "owner")


def test_an_owner_adds_a_colleague_by_email_and_sees_the_link_once(owner, tenant, other_tenant):
    response = owner.post(
        "/admin/tenants/membership/add/", {"email": "eve@example.com", "role": "viewer"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert LINK.search(response.content.decode())
    membership = Membership.objects.get(user__email="eve@example.com")
    assert (membership.tenant, membership.role) == (tenant, "viewer")
    listing = owner.get("/admin/tenants/membership/").content.decode()
    assert "eve@example.com" in listing and not LINK.search(listing)


def test_an_owner_gets_no_takeover_link_for_an_existing_account(owner, tenant):
    UserFactory(username="frank@example.com", email="frank@example.com", is_superuser=True)
    response = owner.post(
        "/admin/tenants/membership/add/", {"email": "frank@example.com", "role": "viewer"}
    )
    assert response.status_code == 200
    assert not LINK.search(response.content.decode())


def test_a_workspace_keeps_its_last_owner(owner, tenant):
    mine = Membership.objects.get(user=owner.user)
    url = f"/admin/tenants/membership/{mine.pk}/"

    demoted = owner.post(url + "change/", {"role": "viewer"})
    assert demoted.status_code == 200 and "only owner" in demoted.content.decode()
    assert owner.get(url + "delete/").status_code == 403
    owner.post(
        "/admin/tenants/membership/",
        {"action": "delete_selected", "_selected_action": [mine.pk], "post": "yes"},
    )
    mine.refresh_from_db()
    assert mine.role == "owner"

    second = MembershipFactory(tenant=tenant, role="owner")
    assert owner.post(url + "change/", {"role": "admin"}).status_code == 302
    mine.refresh_from_db()
    assert mine.role == "admin" and second.role == "owner"


def test_demo_setup_prints_a_merchant_login_that_works(emulator, capsys):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("demo_setup", stdout=out)
    match = re.search(r"Merchant login: (\S+) / (\S+) at (\S+)/admin/", out.getvalue())
    assert match, out.getvalue()
    email, password = match.group(1), match.group(2)
    client = _sign_in(email, password)
    assert "Demo Workspace" in client.get("/admin/").content.decode()
    assert client.get("/admin/tenants/apikey/").status_code == 200  # an owner

    second = io.StringIO()
    call_command("demo_setup", "--json", stdout=second)
    info = json.loads(second.getvalue())
    assert info["merchant_email"] == email and info["merchant_password"] != password
    assert not Client().login(username=email, password=password)
