"""Experiments in admin: owners create them with their arms and start, stop and re-split
them; admins and viewers read them; every change is in the audit log."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from experiments.models import Arm, Experiment
from experiments.services import experiment_create
from offers.params import offer_params_clean
from tests.factories import TenantFactory

from .conftest import PCT30, start_experiment, three_arms

pytestmark = pytest.mark.django_db

ADD = reverse("admin:experiments_experiment_add")


def _change(experiment: Experiment) -> str:
    return reverse("admin:experiments_experiment_change", args=[experiment.pk])


def _form(tenant, arms: list[dict[str, Any]], *, initial: int = 0, **fields: Any) -> dict:  # type: ignore[no-untyped-def]
    data = {
        "tenant": tenant.pk,
        "livemode": "False",
        "name": "20% vs 30% vs holdout",
        "description": "",
        "arms-TOTAL_FORMS": str(len(arms)),
        "arms-INITIAL_FORMS": str(initial),
        "arms-MIN_NUM_FORMS": "0",
        "arms-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for n, arm in enumerate(arms):
        for name, value in arm.items():
            if name == "offers":
                value = json.dumps(value)
            data[f"arms-{n}-{name}"] = value
    return data


def _arm(key: str, kind: str = "variant", weight: int = 1, offers: Any = None) -> dict:
    return {"position": 0, "key": key, "name": key, "kind": kind, "weight": weight,
            "offers": offers or {}}  # fmt: skip


def _text(response) -> str:  # type: ignore[no-untyped-def]
    import html

    return html.unescape(response.content.decode())


def test_an_owner_creates_an_experiment_with_its_arms(merchant_client):
    tenant = TenantFactory()
    owner = merchant_client(tenant, "owner")
    arms = [_arm("pct20"), _arm("pct30", offers={"too_expensive": [PCT30]}),
            _arm("holdout", "holdout")]  # fmt: skip
    response = owner.post(ADD, _form(tenant, arms))
    assert response.status_code == 302, _text(response)
    experiment = Experiment.objects.get(tenant=tenant)
    assert experiment.status == "draft" and experiment.livemode is False
    stored = {arm.key: (arm.kind, arm.weight, arm.offers) for arm in experiment.arms.all()}
    # Stored as offers.params normalises a configured offer's parameters.
    pct30 = {"action": "discount", "params": offer_params_clean(**PCT30)}
    assert stored == {
        "pct20": ("variant", 1, {}),
        "pct30": ("variant", 1, {"too_expensive": [pct30]}),
        "holdout": ("holdout", 1, {}),
    }
    entries = AuditEntry.objects.filter(tenant_id=tenant.pk, action="admin.added")
    assert {e.object_type for e in entries} == {"experiments.experiment", "experiments.arm"}
    entry = entries.get(object_id=experiment.arms.get(key="pct30").pk)
    assert entry.changes["fields"]["arm"]["after"] == "pct30"
    assert entry.changes["fields"]["offers"]["after"] == {"too_expensive": [pct30]}


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ([_arm("a", weight=0), _arm("b", weight=0)], "The weights must add up to more than 0"),
        ([_arm("a", "holdout"), _arm("b", "holdout")], "At most one arm may be the holdout."),
        ([_arm("only")], "An experiment needs 2 to 10 arms"),
        (
            [_arm("a"), _arm("h", "holdout", offers={"too_expensive": [PCT30]})],
            "A holdout shows no offers: leave its offers empty.",
        ),
        (
            [
                _arm(
                    "a",
                    offers={
                        "too_expensive": [{"action": "discount", "params": {"percent_off": 130}}]
                    },
                ),
                _arm("h", "holdout"),
            ],
            "too_expensive, offer 1 (discount): percent_off must be a number between 1 and 100",
        ),  # fmt: skip
        (
            [_arm("a", offers={"too_cheap": []}), _arm("h", "holdout")],
            "Unknown reason 'too_cheap'",
        ),
        (
            [_arm("a", offers={"too_expensive": [{"action": "refund"}]}), _arm("h", "holdout")],
            "too_expensive, offer 1: action must be one of",
        ),
        (
            [_arm("a", offers=["discount"]), _arm("h", "holdout")],
            "Offers must be a JSON object of reason codes to lists of offers",
        ),
    ],
)
def test_bad_arms_are_refused_with_a_clear_message_and_nothing_saved(merchant_client, arms,
                                                                     message):  # fmt: skip
    tenant = TenantFactory()
    owner = merchant_client(tenant, "owner")
    response = owner.post(ADD, _form(tenant, arms))
    assert response.status_code == 200
    assert message in _text(response)
    assert not Experiment.objects.filter(tenant=tenant).exists()
    assert not Arm.objects.filter(experiment__tenant=tenant).exists()


def test_an_owner_starts_and_stops_and_the_stopped_one_stays_read_only(merchant_client):
    tenant = TenantFactory()
    owner = merchant_client(tenant, "owner")
    experiment = experiment_create(
        tenant=tenant, livemode=False, name="Discounts", arms=three_arms()
    )
    page = _text(owner.get(_change(experiment)))
    assert 'id="experiment-start"' in page and 'id="experiment-stop"' not in page

    started = owner.post(reverse("admin:experiments_experiment_start", args=[experiment.pk]),
                         follow=True)  # fmt: skip
    assert "“Discounts” started" in _text(started)
    experiment.refresh_from_db()
    assert experiment.status == "running" and experiment.started_at is not None
    assert 'id="experiment-stop"' in _text(owner.get(_change(experiment)))

    stopped = owner.post(reverse("admin:experiments_experiment_stop", args=[experiment.pk]),
                         follow=True)  # fmt: skip
    assert "“Discounts” stopped: its sessions and results are kept" in _text(stopped)
    experiment.refresh_from_db()
    assert experiment.status == "stopped" and experiment.stopped_at is not None
    page = _text(owner.get(_change(experiment)))
    assert 'name="_save"' not in page and 'id="experiment-start"' not in page
    assert owner.get(_change(experiment).replace("change/", "delete/")).status_code == 403
    statuses = [
        entry.changes["fields"]["status"]
        for entry in AuditEntry.objects.filter(
            object_id=experiment.pk, action="admin.changed"
        ).order_by("created_at")
    ]
    assert statuses == [{"before": "draft", "after": "running"},
                        {"before": "running", "after": "stopped"}]  # fmt: skip
    assert Experiment.objects.filter(pk=experiment.pk).exists()


def test_starting_while_another_runs_fails_clearly(merchant_client):
    tenant = TenantFactory()
    owner = merchant_client(tenant, "owner")
    start_experiment(tenant)
    second = experiment_create(tenant=tenant, livemode=False, name="Second", arms=three_arms())
    response = owner.post(reverse("admin:experiments_experiment_start", args=[second.pk]),
                          follow=True)  # fmt: skip
    assert "“20% vs 30% vs holdout” is already running in test mode: stop it first" in _text(
        response
    )
    second.refresh_from_db()
    assert second.status == "draft" and second.started_at is None
    # The other mode is another matter.
    live = experiment_create(tenant=tenant, livemode=True, name="Live one", arms=three_arms())
    owner.post(reverse("admin:experiments_experiment_start", args=[live.pk]))
    assert Experiment.objects.get(pk=live.pk).status == "running"


def test_an_owner_changes_the_split_of_a_running_experiment_and_it_is_audited(merchant_client):
    tenant = TenantFactory()
    owner = merchant_client(tenant, "owner")
    experiment = start_experiment(tenant)
    arms = list(experiment.arms.order_by("position"))
    data = _form(
        tenant,
        [{"id": arm.pk, "experiment": experiment.pk, "weight": weight}
         for arm, weight in zip(arms, (1, 1, 2), strict=True)],
        initial=3,
        name=experiment.name,
    )  # fmt: skip
    # What the change page's form sends: the workspace and mode are not on it any more.
    del data["tenant"], data["livemode"]
    response = owner.post(_change(experiment), data)
    assert response.status_code == 302, _text(response)
    assert [a.weight for a in experiment.arms.order_by("position")] == [1, 1, 2]
    entry = AuditEntry.objects.get(object_id=arms[2].pk, action="admin.changed")
    assert entry.changes["fields"]["weight"] == {"before": 1, "after": 2}
    # Offers, kinds and keys stay as they were once started: the form does not take them.
    page = _text(owner.get(_change(experiment)))
    assert 'name="arms-1-offers"' not in page and 'name="arms-1-weight"' in page

    data["arms-0-weight"] = data["arms-1-weight"] = data["arms-2-weight"] = "0"
    refused = owner.post(_change(experiment), data)
    assert refused.status_code == 200
    assert "The weights must add up to more than 0" in _text(refused)
    assert [a.weight for a in experiment.arms.order_by("position")] == [1, 1, 2]


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_admins_and_viewers_read_but_never_start_stop_or_edit(merchant_client, role):
    tenant = TenantFactory()
    member = merchant_client(tenant, role)
    draft = experiment_create(tenant=tenant, livemode=False, name="Draft", arms=three_arms())
    running = start_experiment(tenant)
    listing = member.get(reverse("admin:experiments_experiment_changelist"))
    assert listing.status_code == 200 and "Draft" in _text(listing)
    page = _text(member.get(_change(draft)))
    assert "pct30" in page and 'id="experiment-start"' not in page and 'name="_save"' not in page
    assert member.post(reverse("admin:experiments_experiment_start", args=[draft.pk])
                       ).status_code == 403  # fmt: skip
    assert member.post(reverse("admin:experiments_experiment_stop", args=[running.pk])
                       ).status_code == 403  # fmt: skip
    assert member.get(ADD).status_code == 403
    assert Experiment.objects.get(pk=draft.pk).status == "draft"
    assert Experiment.objects.get(pk=running.pk).status == "running"


def test_another_workspaces_experiment_is_404_and_never_started(merchant_client):
    mine, theirs = TenantFactory(), TenantFactory()
    owner = merchant_client(mine, "owner")
    other = experiment_create(tenant=theirs, livemode=False, name="Theirs", arms=three_arms())
    assert owner.get(_change(other)).status_code == 404
    response = owner.post(reverse("admin:experiments_experiment_start", args=[other.pk]))
    assert response.status_code == 404
    assert Experiment.objects.get(pk=other.pk).status == "draft"


def test_start_and_stop_take_posts_only(merchant_client):
    tenant = TenantFactory()
    owner = merchant_client(tenant, "owner")
    draft = experiment_create(tenant=tenant, livemode=False, name="Draft", arms=three_arms())
    response = owner.get(reverse("admin:experiments_experiment_start", args=[draft.pk]))
    assert response.status_code == 405
    assert Experiment.objects.get(pk=draft.pk).status == "draft"
