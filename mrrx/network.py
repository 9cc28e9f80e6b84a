"""Who is calling: the client's address, as the connection or the trusted proxies in
front tell it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings


def client_address(meta: Mapping[str, Any]) -> str:
    """The address of the client behind a request's ``META``, or "" when unknown.

    With ``TRUSTED_PROXIES`` at 0 (the default) it is the connection's own address. With N
    proxies in front, each appending the address it was connected from to
    ``X-Forwarded-For``, it is the N-th entry from the right: the one the outermost of
    them saw. Entries further left come from the client and are never trusted; a header
    with fewer entries than proxies (a request that did not come through all of them)
    falls back to the connection's address.
    """
    remote = str(meta.get("REMOTE_ADDR") or "")
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]
