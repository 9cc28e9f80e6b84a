"""Fixtures shared with the admin and flow suites, and a look at what the log holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from audit.models import AuditEntry
from tests.billing.conftest import emulator  # noqa: F401
from tests.dashboard.conftest import (  # noqa: F401
    merchant_client,
    operator_client,
    workspace_a,
    workspace_b,
)
from tests.sessions.conftest import shop  # noqa: F401
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401

# What only PostgreSQL does (the trigger); SQLite relies on the model layer's guard.
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL only: SQLite has no such check"
)


def entries(**filters: Any) -> list[AuditEntry]:
    """The log's entries matching ``filters``, oldest first."""
    return list(AuditEntry.objects.filter(**filters).order_by("created_at", "id"))


def actions(**filters: Any) -> list[str]:
    return [entry.action for entry in entries(**filters)]


def everything_recorded() -> str:
    """Every entry as one text, for asserting that a secret appears nowhere in the log."""
    return json.dumps(list(AuditEntry.objects.values()), default=str)
