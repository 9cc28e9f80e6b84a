"""Merchants, operators, and one object of every admin-registered model per workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from billing.models import StripeConnection, StripeEvent
from experiments.services import experiment_create
from hub.models import HubSession, PlanChange
from mrrx.crypto import encrypt
from offers.selectors import flow_config_get
from offers.services import flow_create
from retention.models import Save
from sessions_app.models import Session, SessionStatus
from tenants.models import Membership, Tenant
from tenants.services import apikey_issue
from tests.billing.conftest import emulator  # noqa: F401
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401
from webhooks.models import Delivery, Endpoint, Event


@dataclass
class Built:
    """One workspace's object of a model, and a search term its admin finds it by."""

    obj: models.Model
    term: str


def _membership(tenant: Tenant) -> Built:
    membership = MembershipFactory(
        tenant=tenant,
        role=Membership.Role.VIEWER,
        user=UserFactory(email=f"m-{tenant.slug}@ex.com"),
    )
    return Built(membership, membership.user.email)


def _apikey(tenant: Tenant) -> Built:
    key, _ = apikey_issue(tenant=tenant, livemode=False, name=f"key of {tenant.slug}")
    return Built(key, key.prefix)


def _connection(tenant: Tenant) -> Built:
    connection = StripeConnection.objects.create(
        tenant=tenant,
        livemode=False,
        method=StripeConnection.Method.KEY,
        encrypted_key=encrypt("rk_test_0123456789abcdef"),
        key_kind="rk",
        key_last4="cdef",
    )
    return Built(connection, tenant.slug)


def _stripe_event(tenant: Tenant) -> Built:
    event = StripeEvent.objects.create(
        stripe_event_id=f"evt_stripe_{tenant.slug}",
        type="customer.subscription.updated",
        tenant=tenant,
        livemode=False,
        payload="{}",
        signature_valid=True,
    )
    return Built(event, event.stripe_event_id)


def _endpoint(tenant: Tenant) -> Endpoint:
    return Endpoint.objects.create(
        tenant=tenant,
        livemode=False,
        url=f"https://{tenant.slug}.example.com/hooks",
        secret_encrypted=encrypt("whsec_dGVzdHNlY3JldA=="),
    )


def _event(tenant: Tenant) -> Event:
    return Event.objects.create(tenant=tenant, livemode=False, type="session.completed", body="{}")


def _delivery(tenant: Tenant) -> Built:
    delivery = Delivery.objects.create(
        event=_event(tenant), endpoint=_endpoint(tenant), status=Delivery.Status.FAILED
    )
    return Built(delivery, delivery.pk)


def _session(tenant: Tenant) -> Built:
    session = Session.objects.create(
        tenant=tenant,
        livemode=False,
        customer_id=f"cus_{tenant.slug}",
        subscription_id=f"sub_{tenant.slug}",
        expires_at=timezone.now() + timedelta(hours=24),
    )
    return Built(session, session.pk)


def _endpoint_built(tenant: Tenant) -> Built:
    endpoint = _endpoint(tenant)
    return Built(endpoint, endpoint.url)


def _event_built(tenant: Tenant) -> Built:
    event = _event(tenant)
    return Built(event, event.pk)


def _flow_config(tenant: Tenant) -> Built:
    config = flow_config_get(tenant=tenant, livemode=False)
    # A segment flow, so that the offers' flow picker has another workspace's to refuse.
    flow_create(config=config, name=f"{tenant.slug} segment", rule={"interval": "year"})
    return Built(config, tenant.slug)


def _audit_entry(tenant: Tenant) -> Built:
    entry = audit_record(action=AuditAction.ADMIN_CHANGED, target=tenant, tenant_id=tenant.pk)
    return Built(entry, entry.object_id)


def _hub_session(tenant: Tenant) -> Built:
    hub = HubSession.objects.create(
        tenant=tenant,
        livemode=False,
        customer_id=f"cus_hub_{tenant.slug}",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    return Built(hub, hub.customer_id)


def _plan_change(tenant: Tenant) -> Built:
    change = PlanChange.objects.create(
        tenant=tenant,
        livemode=False,
        from_price_id=f"price_pro_{tenant.slug}",
        to_price_id=f"price_basic_{tenant.slug}",
    )
    return Built(change, change.from_price_id)


def _experiment(tenant: Tenant) -> Built:
    experiment = experiment_create(
        tenant=tenant,
        livemode=False,
        name=f"Discounts of {tenant.slug}",
        arms=[
            {"key": "pct30", "kind": "variant", "weight": 1},
            {"key": "holdout", "kind": "holdout", "weight": 1},
        ],
    )
    return Built(experiment, experiment.name)


def _save(tenant: Tenant) -> Built:
    session = Session.objects.create(
        tenant=tenant,
        livemode=False,
        customer_id=f"cus_saved_{tenant.slug}",
        subscription_id=f"sub_saved_{tenant.slug}",
        status=SessionStatus.COMPLETED,
        expires_at=timezone.now() + timedelta(hours=24),
    )
    save = Save.objects.create(
        tenant=tenant,
        livemode=False,
        session=session,
        customer_id=session.customer_id,
        subscription_id=session.subscription_id,
        outcome_action="pause",
        saved_at=timezone.now(),
        session_started_at=session.created_at,
        session_source=session.source,
    )
    return Built(save, save.subscription_id)


# One builder per workspace-scoped model admin. The scoping tests fail for an admin
# without one, so a new admin cannot go untested.
BUILDERS: dict[str, Callable[[Tenant], Built]] = {
    "tenants.tenant": lambda tenant: Built(tenant, tenant.slug),
    "tenants.membership": _membership,
    "tenants.apikey": _apikey,
    "billing.stripeconnection": _connection,
    "billing.stripeevent": _stripe_event,
    "offers.flowconfig": _flow_config,
    "webhooks.endpoint": _endpoint_built,
    "webhooks.event": _event_built,
    "webhooks.delivery": _delivery,
    "sessions_app.session": _session,
    "hub.hubsession": _hub_session,
    "hub.planchange": _plan_change,
    "audit.auditentry": _audit_entry,
    "experiments.experiment": _experiment,
    "retention.save": _save,
}


def change_url(obj: models.Model, suffix: str = "change") -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{suffix}", args=[quote(obj.pk)])


def changelist_url(model: type[models.Model] | models.Model) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


@pytest.fixture
def workspace_a(db) -> Tenant:  # type: ignore[no-untyped-def]
    return TenantFactory(name="Alpha Shop", slug="alpha")


@pytest.fixture
def workspace_b(db) -> Tenant:  # type: ignore[no-untyped-def]
    return TenantFactory(name="Bravo Store", slug="bravo")


@pytest.fixture
def merchant_client() -> Callable[..., Client]:
    """A logged-in client for a new user with ``role`` in ``tenant`` (and maybe more)."""

    def make(
        tenant: Tenant, role: str = "owner", *, also: dict[Tenant, str] | None = None
    ) -> Client:
        user = UserFactory()
        MembershipFactory(user=user, tenant=tenant, role=role)
        for other, other_role in (also or {}).items():
            MembershipFactory(user=user, tenant=other, role=other_role)
        client = Client()
        client.force_login(user)
        client.user = user  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def operator_client(db) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(UserFactory(is_superuser=True))
    return client


def rows_of(model: type[models.Model], pk: Any) -> list[dict[str, Any]]:
    return list(model._default_manager.filter(pk=pk).values())
