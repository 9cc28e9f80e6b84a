"""Cursor pagination over prefixed, time-ordered ids: the last id of a page is the cursor."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request

from .errors import ApiError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def cursor_paginate(
    *, request: Request, queryset: QuerySet, prefix: str
) -> tuple[list[Any], dict[str, Any]]:
    """One page, newest first, and the ``pagination`` object of the response."""
    errors: dict[str, str] = {}
    raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw_limit)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        errors["limit"] = f"must be an integer from 1 to {MAX_LIMIT}"
        limit = DEFAULT_LIMIT
    cursor = request.query_params.get("cursor")
    if cursor is not None and not re.fullmatch(rf"{re.escape(prefix)}_[0-9a-z]{{25}}", cursor):
        errors["cursor"] = f"must be an id from a previous page ({prefix}_...)"
    if errors:
        raise ApiError("validation_error", "Invalid pagination parameters.", details=errors)
    queryset = queryset.order_by("-pk")
    if cursor:
        queryset = queryset.filter(pk__lt=cursor)
    rows = list(queryset[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, {"has_more": has_more, "next_cursor": rows[-1].pk if has_more else None}
