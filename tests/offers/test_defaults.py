from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from offers.models import FlowConfig
from offers.selectors import REASONS, cancel_at_period_end, flow_config_get, reasons_for
from offers.services import flow_config_update
from tenants.services import tenant_create
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

ALL_REASONS = [
    "too_expensive",
    "not_using_enough",
    "missing_features",
    "switching_competitor",
    "technical_issues",
    "business_closing",
    "other",
]
DISCOUNT = ("discount", {"percent_off": 25, "duration_months": 3}, True)
PAUSE = ("pause", {"months_options": [1, 2, 3]}, True)
DOWNGRADE = ("downgrade", {"targets": {}}, True)
DEFAULT_OFFERS = {
    "too_expensive": [DISCOUNT, DOWNGRADE],
    "not_using_enough": [PAUSE, DOWNGRADE],
    "missing_features": [DISCOUNT],
    "switching_competitor": [DISCOUNT],
    "technical_issues": [PAUSE],
    "business_closing": [PAUSE],
    "other": [DISCOUNT],
}


def _offers_by_reason(config: FlowConfig) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for offer in config.offers.order_by("reason", "position"):
        found.setdefault(offer.reason, []).append((offer.action, offer.params, offer.enabled))
    return found


def _assert_defaults(config: FlowConfig) -> None:
    assert config.reasons == ALL_REASONS
    assert config.cancel_timing == "period_end"
    assert config.ask_feedback is True
    assert config.proration_behavior == "create_prorations"
    assert config.discount_cooldown_months == 12
    assert config.trial_extension_first is True
    assert config.trial_extension_days == 14
    assert _offers_by_reason(config) == DEFAULT_OFFERS


def test_new_workspace_has_a_default_flow_in_each_mode():
    tenant = tenant_create(name="Acme")
    configs = {c.livemode: c for c in FlowConfig.objects.filter(tenant=tenant)}
    assert set(configs) == {False, True}
    for config in configs.values():
        _assert_defaults(config)
    assert flow_config_get(tenant=tenant, livemode=True).pk == configs[True].pk


def test_flow_config_get_makes_the_defaults_for_an_older_workspace():
    tenant = TenantFactory()  # made directly, as before the offers app existed
    assert not FlowConfig.objects.filter(tenant=tenant).exists()
    config = flow_config_get(tenant=tenant, livemode=False)
    _assert_defaults(config)
    assert flow_config_get(tenant=tenant, livemode=False).pk == config.pk
    assert list(FlowConfig.objects.filter(tenant=tenant).values_list("livemode", flat=True)) == [
        False
    ]


def test_backfill_migration_gives_older_workspaces_both_modes_once():
    tenant = TenantFactory()
    migration = importlib.import_module("offers.migrations.0002_backfill_flow_configs")
    migration.backfill(apps, None)
    migration.backfill(apps, None)
    configs = FlowConfig.objects.filter(tenant=tenant)
    assert sorted(c.livemode for c in configs) == [False, True]
    for config in configs:
        _assert_defaults(config)


def test_reasons_are_listed_in_the_configured_order_with_labels(tenant):
    config = flow_config_get(tenant=tenant, livemode=False)
    assert reasons_for(config=config) == REASONS
    assert [code for code, _ in REASONS] == ALL_REASONS
    assert dict(REASONS)["business_closing"] == "Business closing / project ended"
    flow_config_update(config=config, reasons=["other", "too_expensive"])
    config.refresh_from_db()
    assert reasons_for(config=config) == [("other", "Other"), ("too_expensive", "Too expensive")]


def test_cancel_timing_decides_cancel_at_period_end(tenant):
    config = flow_config_get(tenant=tenant, livemode=True)
    assert cancel_at_period_end(config=config) is True
    flow_config_update(config=config, cancel_timing="immediately")
    assert cancel_at_period_end(config=FlowConfig.objects.get(pk=config.pk)) is False


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"reasons": []}, "reasons", "non-empty list"),
        ({"reasons": ["other", "bored"]}, "reasons", "Unknown reason code(s): bored"),
        ({"reasons": ["other", "other"]}, "reasons", "listed twice: other"),
        ({"cancel_timing": "later"}, "cancel_timing", "not a valid choice"),
        ({"proration_behavior": "sometimes"}, "proration_behavior", "not a valid choice"),
        ({"trial_extension_days": 0}, "trial_extension_days", "greater than or equal to 1"),
        ({"trial_extension_days": 91}, "trial_extension_days", "less than or equal to 90"),
        ({"discount_cooldown_months": 121}, "discount_cooldown_months", "less than or equal"),
    ],
)
def test_bad_flow_settings_are_refused_and_nothing_saved(tenant, changes, field, message):
    config = flow_config_get(tenant=tenant, livemode=False)
    before = FlowConfig.objects.filter(pk=config.pk).values().get()
    with pytest.raises(ValidationError) as raised:
        flow_config_update(config=config, ask_feedback=False, **changes)
    assert any(message in m for m in raised.value.message_dict[field]), raised.value
    assert FlowConfig.objects.filter(pk=config.pk).values().get() == before
