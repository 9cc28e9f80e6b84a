"""The Python client's ``get_analytics`` against the live server: figures, groups, an
experiment against its holdout, and the errors it raises."""

from __future__ import annotations

from datetime import date

import pytest
from mrrx_client import InsufficientPermissionsError, Mrrx, ValidationError

from experiments.models import Arm, ArmKind, Experiment, ExperimentStatus
from tenants.models import SCOPE_SESSIONS_READ
from tests.dashboard.test_analytics import at, make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def figures(served):
    tenant, livemode = served.tenant, served.client.api_key.livemode
    experiment = Experiment.objects.create(
        tenant=tenant, livemode=livemode, name="Pause or not", status=ExperimentStatus.RUNNING,
        started_at=at(1),
    )  # fmt: skip
    Arm.objects.create(experiment=experiment, key="pause", name="Pause")
    Arm.objects.create(experiment=experiment, key="holdout", name="Holdout",
                       kind=ArmKind.HOLDOUT)  # fmt: skip
    for n in range(4):
        make(tenant, at(10 + n % 2), "completed", livemode=livemode,
             outcome_action="pause" if n < 3 else "cancel", survey_reason="too_expensive",
             experiment_id=experiment.pk, experiment_arm="pause")  # fmt: skip
    make(tenant, at(11), "completed", livemode=livemode, outcome_action="cancel",
         survey_reason="other", experiment_id=experiment.pk, experiment_arm="holdout")  # fmt: skip
    make(tenant, at(11), "completed", livemode=not livemode, outcome_action="pause")
    return experiment


def test_get_analytics_reads_the_figures_grouped_with_their_definitions(
    served, live_server, figures
):
    with Mrrx(served.client.plaintext, base_url=live_server.url) as mrrx:
        analytics = mrrx.get_analytics(from_=date(2026, 1, 10), to="2026-01-12", group_by="day")

    assert (analytics["object"], analytics["from"], analytics["to"]) == (
        "analytics", "2026-01-10", "2026-01-12"
    )  # fmt: skip
    totals = analytics["totals"]
    assert (totals["sessions_started"], totals["saved"], totals["save_rate"]) == (5, 3, 0.6)
    assert [(g["key"], g["sessions_started"]) for g in analytics["groups"]] == [
        ("2026-01-10", 2), ("2026-01-11", 3), ("2026-01-12", 0)
    ]  # fmt: skip
    assert analytics["definitions"]["save_rate"]["url"].endswith("/admin/analytics/#def-save_rate")
    [experiment] = analytics["experiments"]
    arms = {arm["key"]: arm for arm in experiment["arms"]}
    [save_rate, *_] = arms["pause"]["difference_vs_holdout"]
    assert (save_rate["figure"], save_rate["difference"]) == ("save_rate", 0.75)
    assert save_rate["enough_data"] is False and save_rate["ci95_low"] is None


def test_get_analytics_raises_on_bad_input_and_without_the_scope(
    served, live_server, make_client, figures
):
    with (
        Mrrx(served.client.plaintext, base_url=live_server.url) as mrrx,
        pytest.raises(ValidationError) as bad,
    ):
        mrrx.get_analytics(group_by="week")  # type: ignore[arg-type]
    assert bad.value.code == "validation_error" and "group_by" in bad.value.details

    reader = make_client(served.tenant, scopes=[SCOPE_SESSIONS_READ]).plaintext
    with (
        Mrrx(reader, base_url=live_server.url) as mrrx,
        pytest.raises(InsufficientPermissionsError),
    ):
        mrrx.get_analytics()
