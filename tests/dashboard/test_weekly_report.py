"""The weekly report: last week's live figures to each workspace's opted-in owners, once per
workspace per week, whatever the number of runs; test mode and other workspaces left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core import mail

from audit.models import AuditEntry
from dashboard.models import WeeklyReport
from dashboard.report import week_before
from dashboard.weekly_reports import weekly_report_send, weekly_reports_send
from experiments.models import Arm, ArmKind, Experiment, ExperimentStatus
from tenants.models import Membership
from tests.dashboard.test_analytics import at, make
from tests.dashboard.test_analytics_api import save_of
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

# A Monday morning: the report covers Monday 12 to Sunday 18 January 2026.
MONDAY = datetime(2026, 1, 19, 3, 0, tzinfo=UTC)


def member(tenant, role, email, **fields):  # type: ignore[no-untyped-def]
    return MembershipFactory(tenant=tenant, role=role, user=UserFactory(email=email), **fields)


@pytest.fixture
def shop(tenant):
    """Two owners (one opted out), an admin and a viewer; last week's live sessions and
    saves checked that week; a running experiment; test-mode and out-of-week noise."""
    member(tenant, Membership.Role.OWNER, "owner@shop.test")
    member(tenant, Membership.Role.OWNER, "quiet-owner@shop.test", weekly_report=False)
    member(tenant, Membership.Role.ADMIN, "admin@shop.test")
    member(tenant, Membership.Role.VIEWER, "viewer@shop.test")
    make(tenant, at(12, 9), "completed", outcome_action="pause", survey_reason="too_expensive")
    make(tenant, at(14), "completed", outcome_action="discount", survey_reason="too_expensive",
         price_amount=12000, price_interval="year")  # fmt: skip
    make(tenant, at(18, 23, 59, 59), "completed", outcome_action="cancel",
         survey_reason="missing_features")  # fmt: skip
    make(tenant, at(15), "abandoned", survey_reason="not_using_enough")
    # A save made in October whose 90-day check fell on 13 January, retained at $29.
    october = make(tenant, datetime(2025, 10, 15, 12, tzinfo=UTC), "completed",
                   outcome_action="pause")  # fmt: skip
    record = save_of(october, "retained", "retained", "retained")
    record.checkpoints.filter(day=90).update(due_at=at(13))
    # Not last week, or not live, or not this workspace.
    make(tenant, at(19, 0), "completed", outcome_action="cancel", survey_reason="other")
    make(tenant, at(11, 23), "completed", outcome_action="cancel", survey_reason="other")
    make(tenant, at(14), "completed", livemode=False, outcome_action="cancel",
         survey_reason="switching_competitor", price_amount=777777)  # fmt: skip
    experiment = Experiment.objects.create(
        tenant=tenant, livemode=True, name="Twenty off", status=ExperimentStatus.RUNNING,
        started_at=at(1),
    )  # fmt: skip
    Arm.objects.create(experiment=experiment, key="pct20", name="20% off")
    Arm.objects.create(experiment=experiment, key="holdout", name="Holdout",
                       kind=ArmKind.HOLDOUT)  # fmt: skip
    make(tenant, at(13), "completed", outcome_action="discount", experiment_id=experiment.pk,
         experiment_arm="pct20", survey_reason="other")  # fmt: skip
    return tenant


def test_week_before_is_the_last_whole_week_monday_to_sunday():
    for today in ("2026-01-19", "2026-01-21", "2026-01-25"):
        week = week_before(datetime.fromisoformat(today).date())
        assert (str(week.start), str(week.end)) == ("2026-01-12", "2026-01-18")


def test_sent_once_per_week_to_the_opted_in_owners_only(shop):
    first = weekly_reports_send(now=MONDAY)
    again = weekly_reports_send(now=MONDAY + timedelta(hours=1))
    later_that_week = weekly_reports_send(now=MONDAY + timedelta(days=4))

    assert first == {"sent": 1, "skipped": 0}
    assert again == later_that_week == {"sent": 0, "skipped": 0}
    [message] = mail.outbox
    assert message.to == ["owner@shop.test"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    [row] = WeeklyReport.objects.filter(tenant=shop)
    assert (str(row.week_start), row.status, row.recipients) == ("2026-01-12", "sent", 1)

    # The next week is another report.
    weekly_reports_send(now=MONDAY + timedelta(days=7))
    assert len(mail.outbox) == 2
    assert "Jan 19 to Jan 25, 2026" in mail.outbox[1].subject


def test_the_report_says_last_weeks_live_figures(shop):
    weekly_reports_send(now=MONDAY)

    [message] = mail.outbox
    text = message.body
    assert message.subject == f"{shop.name}: your retention week, Jan 12 to Jan 18, 2026"
    # 5 sessions (3 completed + 1 abandoned + the experiment's), 3 saved of 4 completed.
    assert "Cancellation sessions: 5 started, 4 completed, 3 saved." in text
    assert "Save rate: 75.0%" in text
    # 2900/month twice and 12000/year: 2900 + 2900 + 1000.
    assert "MRR saved: 68.00 USD" in text
    assert (
        "- 90 days after the save: 1 retained, 0 churned (retention 100.0%); "
        "MRR retained: 29.00 USD" in text
    )
    reasons = text.split("Top reasons")[1].split("Running experiments")[0]
    assert reasons.strip().splitlines() == [
        "- Too expensive: 2 session(s), save rate 100.0%",
        "- Missing features I need: 1 session(s), save rate 0.0%",
        "- Not using it enough: 1 session(s), save rate -",
    ]
    assert "* Twenty off" in text
    assert "  - 20% off: 1 session(s), save rate 100.0%" in text
    assert "Save rate against the holdout: - (95% interval: -)" in text
    assert f"{settings.PUBLIC_BASE_URL}/admin/analytics/?start=2026-01-12&end=2026-01-18" in text
    # Test mode, the week before and the week after are not in it.
    assert "Switching to a competitor" not in text and "7777" not in text
    assert "Other" not in reasons

    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    for part in ("<th align=\"left\">Save rate</th><td align=\"right\">75.0%</td>",
                 "68.00 USD", "29.00 USD", "<li>Too expensive: 2 session(s), save rate 100.0%</li>",
                 "<strong>Twenty off</strong>", "/admin/analytics/?start=2026-01-12"):  # fmt: skip
        assert part in html, part
    assert "Switching to a competitor" not in html


def test_not_enough_data_is_said_and_intervals_given_when_there_is(shop):
    experiment = Experiment.objects.get(tenant=shop)
    for n in range(30):
        make(shop, at(13), "completed", outcome_action="discount" if n < 15 else "cancel",
             experiment_id=experiment.pk, experiment_arm="pct20")  # fmt: skip
        make(shop, at(13), "completed", outcome_action="cancel", experiment_id=experiment.pk,
             experiment_arm="holdout")  # fmt: skip

    weekly_reports_send(now=MONDAY)

    # 16 of 31 saved against 0 of 30: +51.6 points; Newcombe's interval from the Wilson
    # intervals [0.348, 0.680] and [0, 0.114]: 0.516 - sqrt(0.168² + 0.114²) = 0.313.
    assert (
        "Save rate against the holdout: +51.6 pts (95% interval: +31.4 to +68.0 pts)"
        in mail.outbox[0].body
    )


def test_workspaces_without_activity_or_willing_owners_get_nothing(shop):
    idle = TenantFactory()
    member(idle, Membership.Role.OWNER, "idle@owner.test")
    make(idle, at(14), livemode=False)  # test mode only
    unwilling = TenantFactory()
    member(unwilling, Membership.Role.OWNER, "no@thanks.test", weekly_report=False)
    make(unwilling, at(14), "completed", outcome_action="cancel")

    assert weekly_reports_send(now=MONDAY) == {"sent": 1, "skipped": 2}

    assert [m.to for m in mail.outbox] == [["owner@shop.test"]]
    statuses = dict(WeeklyReport.objects.values_list("tenant_id", "status"))
    assert statuses == {shop.pk: "sent", idle.pk: "skipped", unwilling.pk: "skipped"}


def test_another_workspaces_figures_are_not_in_a_report(shop):
    neighbour = TenantFactory(name="Neighbour")
    member(neighbour, Membership.Role.OWNER, "n@neighbour.test")
    for _ in range(9):
        make(neighbour, at(14), "completed", outcome_action="cancel", survey_reason="other")

    weekly_reports_send(now=MONDAY)

    by_address = {m.to[0]: m.body for m in mail.outbox}
    assert "Cancellation sessions: 5 started" in by_address["owner@shop.test"]
    assert (
        "Cancellation sessions: 9 started, 9 completed, 0 saved." in by_address["n@neighbour.test"]
    )
    assert "Twenty off" not in by_address["n@neighbour.test"]


def test_a_claimed_report_is_sent_by_one_run_only(shop):
    weekly_reports_send(now=MONDAY - timedelta(days=7))  # the week before: its own row
    mail.outbox.clear()
    row = WeeklyReport.objects.create(tenant=shop, week_start=week_before(MONDAY.date()).start)

    assert weekly_report_send(report_id=row.pk, now=MONDAY) == "sent"
    assert weekly_report_send(report_id=row.pk, now=MONDAY) is None
    assert weekly_reports_send(now=MONDAY) == {"sent": 0, "skipped": 0}
    assert len(mail.outbox) == 1


def test_a_claim_left_by_a_dead_worker_is_taken_again_after_an_hour(shop):
    row = WeeklyReport.objects.create(
        tenant=shop, week_start=week_before(MONDAY.date()).start, status="sending",
        claimed_at=MONDAY,
    )  # fmt: skip

    assert weekly_reports_send(now=MONDAY + timedelta(minutes=30))["sent"] == 0
    assert weekly_reports_send(now=MONDAY + timedelta(minutes=61))["sent"] == 1
    row.refresh_from_db()
    assert row.status == "sent" and len(mail.outbox) == 1


def test_a_mail_server_failure_leaves_the_report_to_the_next_run(shop, settings):
    settings.EMAIL_BACKEND = "tests.dashboard.failing_mail.Backend"
    with pytest.raises(ConnectionRefusedError):
        weekly_reports_send(now=MONDAY)
    assert WeeklyReport.objects.get(tenant=shop).status == "pending"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert weekly_reports_send(now=MONDAY + timedelta(hours=1))["sent"] == 1
    assert len(mail.outbox) == 1


def test_the_beat_schedule_runs_the_task_hourly():
    [entry] = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "dashboard.tasks.weekly_reports_send"
    ]  # fmt: skip
    assert entry["schedule"] <= timedelta(hours=1)


def test_an_owner_turns_the_report_off_for_a_member_in_admin(merchant_client, shop):
    owner = merchant_client(shop, "owner")
    colleague = Membership.objects.get(tenant=shop, user__email="owner@shop.test")
    url = f"/admin/tenants/membership/{colleague.pk}/change/"

    page = owner.get(url).content.decode()
    assert (
        'name="weekly_report"' in page and "checked" in page.split('name="weekly_report"')[1][:80]
    )
    response = owner.post(url, {"role": "owner"})  # the box unticked

    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.weekly_report is False
    assert AuditEntry.objects.filter(tenant_id=shop.pk, object_id=str(colleague.pk)).exists()
    weekly_reports_send(now=MONDAY)
    assert [m.to for m in mail.outbox] == [[owner.user.email]]
