"""A merchant runs "20% vs 30% off vs holdout" and reads, a quarter later, which arm kept
more revenue, with the uncertainty stated, from the API and from the analytics page.

Everything real but the clock: sessions created through the API (the arm assigned by the
subscription id), walked through the flow API, their actions run on the Stripe emulator;
the emulator's clock then moves 91 days (renewals invoiced and paid, three of the 20%
saves canceled at day 45), its events are delivered to the inbound webhook, and the
verification pass runs at the emulator's time. (The weekly email's experiment section is
tested in tests/dashboard/test_weekly_report.py: it reads live-mode figures only.)
"""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from experiments.models import Experiment
from experiments.selectors import arm_pick, experiment_arms
from retention.models import Save, SaveCheckpoint
from retention.services import saves_verify
from sessions_app.execution import session_execute
from sessions_app.models import Session
from tenants.models import Membership
from tests.dashboard.test_analytics import _Tables
from tests.experiments.conftest import start_experiment
from tests.factories import MembershipFactory, UserFactory
from tests.retention.conftest import (
    DAY,
    SEED_KEY,
    connect,
    deliver,
    emulator,  # noqa: F401
    emulator_events,
    emulator_now,
    seed,
    stripe_emulator,  # noqa: F401
)

pytestmark = pytest.mark.django_db

PER_ARM = 30  # the least number of sessions per arm that gives an interval
# Of each arm's 30 subscribers, how many take the discount (the rest cancel); and how many
# of the 20% ones cancel anyway at day 45.
ACCEPT = {"pct20": 18, "pct30": 24, "holdout": 0}
CANCEL_AT_45 = 3


def _subscriber(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_quarter_later_the_merchant_reads_which_discount_kept_more_revenue(
    emulator,  # noqa: F811
    make_client,
    tenant,
    client,
):
    tenant.rate_limit_overrides = {"sessions.create": 1000}
    tenant.save()
    connect(tenant)  # test mode, with the inbound webhook's secret
    api = make_client(tenant)
    seeded = seed(emulator)
    stripe = emulator.client(SEED_KEY)
    experiment = start_experiment(tenant)
    start = emulator.now()
    arms_of = experiment_arms(experiment=experiment)

    # Subscribers arrive until every arm has 30; the arm follows from the subscription id.
    taken: dict[str, list[str]] = {arm: [] for arm in ACCEPT}
    counts = dict.fromkeys(ACCEPT, 0)
    while min(counts.values()) < PER_ARM:
        customer = stripe.v1.customers.create({"email": f"s{sum(counts.values())}@ex.com"})
        subscription = stripe.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": seeded.pro_price_id}]}
        )
        picked = arm_pick(
            experiment_id=experiment.pk, arms=arms_of, subscription_id=subscription.id
        )
        assert picked is not None
        arm = picked.key
        if counts[arm] == PER_ARM:
            # This arm has its 30: this subscriber never clicks "Cancel".
            stripe.v1.subscriptions.cancel(subscription.id)
            continue
        created = api.post(
            "/api/v1/sessions", {"customer_id": customer.id, "subscription_id": subscription.id}
        )
        assert created.status_code == 201, created.content
        body = created.json()
        # The API names the arm the subscription id was assigned.
        assert api.get(f"/api/v1/sessions/{body['id']}").json()["experiment"] == {
            "id": experiment.pk,
            "arm": arm,
        }
        counts[arm] += 1
        subscriber = _subscriber(body["token"])
        survey = subscriber.post("/api/v1/flow/survey", {"reason": "too_expensive"}, format="json")
        assert survey.status_code == 200, survey.content
        offers = survey.json()["offers"]
        if counts[arm] <= ACCEPT[arm]:
            [offer] = [o for o in offers if o["action"] == "discount"]
            assert offer["params"]["percent_off"] == {"pct20": 20, "pct30": 30}[arm]
            choice = {"action": "discount", "offer_id": offer["id"]}
            taken[arm].append(subscription.id)
        else:
            assert arm != "holdout" or offers == []
            choice = {"action": "cancel"}
        executed = subscriber.post("/api/v1/flow/execute", choice, format="json")
        assert executed.status_code == 202, executed.content
        session_execute(session_id=body["id"])
        assert Session.objects.get(pk=body["id"]).status == "completed"

    # A quarter passes. Three of the 20% savers cancel at day 45.
    emulator.advance(45 * DAY)
    for subscription_id in taken["pct20"][:CANCEL_AT_45]:
        stripe.v1.subscriptions.cancel(subscription_id)
    emulator.advance(46 * DAY)
    assert set(deliver(client, _Shop(tenant), emulator_events(emulator, since=start))) == {200}
    saves_verify(now=emulator_now(emulator))

    saves = Save.objects.filter(tenant=tenant)
    assert saves.count() == ACCEPT["pct20"] + ACCEPT["pct30"]
    assert not SaveCheckpoint.objects.filter(save_record__tenant=tenant, status="pending").exists()

    # The API: each arm against the holdout, with the interval and its definition.
    viewer_key = make_client(tenant)
    today = emulator_now(emulator).date()
    query = {"from": str(today - timedelta(days=120)), "to": str(today), "group_by": "arm"}
    response = viewer_key.client.get("/api/v1/analytics", query)
    assert response.status_code == 200, response.content
    body = response.json()
    [result] = body["experiments"]
    assert (result["id"], result["holdout_arm"]) == (experiment.pk, "holdout")
    arms = {arm["key"]: arm for arm in result["arms"]}
    for key in ACCEPT:
        assert arms[key]["sessions_started"] == PER_ARM, key
        assert arms[key]["saved"] == ACCEPT[key], key
    assert [r["retained"] for r in arms["pct30"]["retained"]] == [24, 24, 24]
    assert [r["retained"] for r in arms["pct20"]["retained"]] == [18, 15, 15]
    assert [r["retained"] for r in arms["holdout"]["retained"]] == [0, 0, 0]

    # Revenue kept at 90 days per session started, from the checkpoints' own amounts.
    def kept(arm: str) -> float:
        amounts = SaveCheckpoint.objects.filter(
            save_record__session__experiment_arm=arm, day=90, status="retained"
        ).values_list("mrr_amount", "save_record__mrr_amount")
        return sum(at_day if at_day is not None else at_save for at_day, at_save in amounts) / 30

    per_session = {
        key: {m["currency"]: m["amount"] for m in arms[key]["mrr_retained_90_per_session"]}
        for key in ("pct20", "pct30")
    }
    assert per_session["pct30"]["usd"] == pytest.approx(kept("pct30"))
    assert per_session["pct20"]["usd"] == pytest.approx(kept("pct20"))
    # 24 subscriptions still paying against 15: the 30% arm kept more revenue.
    assert per_session["pct30"]["usd"] > per_session["pct20"]["usd"] > 0
    for key in ("pct20", "pct30"):
        diffs = {(d["figure"], d["currency"]): d for d in arms[key]["difference_vs_holdout"]}
        mrr = diffs[("mrr_retained_90_per_session", "usd")]
        assert mrr["enough_data"] is True
        assert mrr["difference"] == pytest.approx(per_session[key]["usd"])
        assert mrr["ci95_low"] < mrr["difference"] < mrr["ci95_high"]
        retained = diffs[("retained_90", None)]
        assert retained["difference"] == pytest.approx(arms[key]["retained"][2]["retained"] / 30)
        assert retained["enough_data"] is True and retained["ci95_low"] > 0
    assert "difference_vs_holdout" in body["definitions"]

    # The analytics page shows the same, in a table.
    user = UserFactory(username="quarter-viewer")
    MembershipFactory(tenant=tenant, user=user, role=Membership.Role.VIEWER)
    client.force_login(user)
    page = client.get(
        "/admin/analytics/",
        {"start": query["from"], "end": query["to"], "mode": "test"},
    )
    assert page.status_code == 200
    document = html.unescape(page.content.decode())
    parser = _Tables()
    parser.feed(document.split('id="tables"')[1].split('id="definitions"')[0])
    tables = {t["caption"].strip(): t["rows"] for t in parser.tables}
    name = Experiment.objects.get(pk=experiment.pk).name
    arm_rows = {row[0]: row for row in tables[f"Experiment: {name} (running)"][1:]}
    assert arm_rows["30% off"][2] == arm_rows["20% off (configured)"][2] == "30"
    assert arm_rows["30% off"][6] == "80.0%" and arm_rows["20% off (configured)"][6] == "50.0%"
    differences = tables[f"Experiment: {name}, against the holdout"]
    rows = [r for r in differences if r[1] == "MRR retained at 90 days per session (USD)"]
    assert {r[0] for r in rows} == {"30% off", "20% off (configured)"}
    assert all(r[3] != "not enough data" for r in rows)


class _Shop:
    """What ``deliver`` needs: the workspace's inbound endpoint."""

    def __init__(self, tenant) -> None:  # type: ignore[no-untyped-def]
        self.connection = tenant.stripe_connections.get(livemode=False)

    @property
    def webhook_url(self) -> str:
        return f"/api/stripe/webhook/{self.connection.pk}"
