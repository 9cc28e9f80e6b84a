"""mrrx.parallel.together: independent reads at once on connections of their own, in
order, errors raised to the caller; one by one inside a transaction or when nested."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from mrrx import parallel
from mrrx.parallel import together
from tenants.models import Tenant
from tests.factories import TenantFactory

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the reads run at once on PostgreSQL only"
)


def _where() -> tuple[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 1"
        )
        return threading.current_thread().name, cursor.fetchone()[0]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_reads_run_on_other_threads_and_connections_and_see_committed_rows(settings):
    settings.READ_CONCURRENCY = 2
    tenant = TenantFactory(name="Committed")
    first, second, third = together(
        _where,
        _where,
        lambda: Tenant.objects.filter(pk=tenant.pk).values_list("name", flat=True)[0],
    )
    assert first[0] == threading.current_thread().name
    assert second[0].startswith("mrrx-read") and second[1] != first[1]
    assert third == "Committed"


@pytest.mark.django_db
def test_inside_a_transaction_they_run_here_and_see_its_rows(settings):
    settings.READ_CONCURRENCY = 2
    with transaction.atomic():
        tenant = TenantFactory(name="Uncommitted")
        names = together(
            lambda: Tenant.objects.get(pk=tenant.pk).name, lambda: threading.current_thread().name
        )
    assert names == ["Uncommitted", threading.current_thread().name]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_results_keep_their_order_and_an_error_reaches_the_caller_after_the_rest(settings):
    settings.READ_CONCURRENCY = 2
    finished = []

    def slow() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.2)")
        finished.append("slow")
        return "slow"

    assert together(lambda: "a", slow, lambda: "c") == ["a", "slow", "c"]

    def fails() -> None:
        raise ValueError("no such figure")

    finished.clear()
    with pytest.raises(ValueError, match="no such figure"):
        together(fails, slow)
    assert finished == ["slow"]  # the other had finished before the error was raised


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_read_on_a_thread_that_asks_for_more_runs_them_itself(settings):
    settings.READ_CONCURRENCY = 2

    def nested() -> list[str]:
        return together(lambda: threading.current_thread().name, lambda: "x")

    here, (inner_name, x) = together(lambda: "here", nested)
    assert here == "here" and inner_name.startswith("mrrx-read") and x == "x"


@pytest.mark.django_db
def test_with_one_they_run_one_by_one_here(settings, monkeypatch):
    settings.READ_CONCURRENCY = 1
    monkeypatch.setattr(parallel, "_executor", lambda: pytest.fail("no thread is used"))
    assert together(lambda: 1, lambda: 2) == [1, 2]
