"""Django's system checks, the database ones included, pass without a single warning on
the database the suite runs on: PostgreSQL in CI, SQLite on the embedded default (whose
`make run` would otherwise greet a new user with them)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def test_no_check_warns_on_this_database():
    call_command("check", databases=["default"], fail_level="WARNING")
