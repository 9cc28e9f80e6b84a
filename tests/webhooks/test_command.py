"""manage.py webhook_endpoint_create: the operator's way to add an endpoint."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from mrrx.crypto import decrypt
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("webhook_endpoint_create", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_endpoint_id_and_secret(tenant):
    output = run(
        "--tenant", tenant.pk, "--mode", "test", "--url", "https://hooks.example.com/mrrx",
        "--events", "session.completed", "subscription.canceled", "--description", "CRM",
    )  # fmt: skip

    endpoint = Endpoint.objects.get()
    secret = decrypt(endpoint.secret_encrypted)
    assert f"Endpoint: {endpoint.pk}" in output
    assert f"Secret:   {secret}" in output
    assert endpoint.event_types == ["session.completed", "subscription.canceled"]
    assert (endpoint.livemode, endpoint.description) == (False, "CRM")


def test_the_command_prints_json_for_scripts(tenant):
    data = json.loads(
        run("--tenant", tenant.slug, "--mode", "live", "--url", "https://h.example.com/", "--json")
    )

    endpoint = Endpoint.objects.get()
    assert data["id"] == endpoint.pk
    assert data["secret"] == decrypt(endpoint.secret_encrypted)
    assert (data["mode"], data["event_types"]) == ("live", "all")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mode", "live", "--url", "http://h.example.com/"], "https://"),
        (["--mode", "test", "--url", "gopher://h.example.com/"], "http:// or https://"),
        (["--mode", "test", "--url", "https://h.example.com/", "--events", "nope"], "nope"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(tenant, args, message):
    with pytest.raises(CommandError, match=message):
        run("--tenant", tenant.pk, *args)
    assert not Endpoint.objects.exists()


def test_an_unknown_workspace_is_an_error(db):
    with pytest.raises(CommandError, match="No workspace"):
        run("--tenant", "ws_missing", "--mode", "test", "--url", "https://h.example.com/")
