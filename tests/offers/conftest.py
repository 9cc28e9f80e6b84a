from __future__ import annotations

from typing import Any

import pytest

from offers.models import FlowConfig, Offer
from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_create, offer_delete


def snapshot(**overrides: Any) -> dict[str, Any]:
    """A subscription snapshot as the session stores it: active, USD 29.00 a month."""
    base: dict[str, Any] = {
        "status": "active",
        "price_id": "price_pro",
        "amount": 2900,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "trial_end": None,
        "discount_coupon_ids": [],
        "paused": False,
        "cancel_at_period_end": False,
    }
    base.update(overrides)
    return base


BASIC_TARGET = {
    "price_id": "price_basic",
    "amount": 1900,
    "currency": "usd",
    "interval": "month",
    "product_name": "Basic",
    "from_amount": 2900,
}


@pytest.fixture
def config(tenant) -> FlowConfig:  # type: ignore[no-untyped-def]
    return flow_config_get(tenant=tenant, livemode=False)


@pytest.fixture
def only_offer(config):  # type: ignore[no-untyped-def]
    """Make ``reason`` offer just one thing, with no trial extension put in front."""

    def make(action: str, params: dict, *, enabled: bool = True, reason: str = "other") -> Offer:
        for offer in config.offers.filter(reason=reason):
            offer_delete(offer=offer)
        flow_config_update(config=config, trial_extension_first=False)
        return offer_create(
            config=config, reason=reason, action=action, params=params, enabled=enabled
        )

    return make
