"""Reads about workspaces that other code needs."""

from __future__ import annotations

from urllib.parse import urlsplit

from .models import ApiKey, Tenant
from .services import RECENT_KEYS, apikey_hash


def apikey_get_by_plaintext(*, plaintext: str) -> ApiKey | None:
    """The key (with its workspace) whose plaintext this is, or None.

    Read at most every ``settings.API_KEY_CACHE_SECONDS`` per process: authenticating is
    the one query every API request makes, and the same keys come back request after
    request. ``apikey_cache_clear`` forgets them (a key or workspace saved or revoked).
    """
    hashed = apikey_hash(plaintext)
    return RECENT_KEYS.get(
        hashed, lambda: ApiKey.objects.select_related("tenant").filter(hashed_key=hashed).first()
    )


def _origin(parts) -> tuple[str, str, int | None]:  # type: ignore[no-untyped-def]
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default_port)


def return_url_allowed(*, tenant: Tenant, url: str, livemode: bool) -> tuple[bool, str]:
    """Whether ``url`` may receive a subscriber, and if not, why.

    An allowlist entry that is a bare origin allows any path on exactly that origin; an
    entry with a path allows that path and anything below it. Live mode requires https.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False, "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False, "must be an absolute http(s) URL"
    if parts.username is not None or parts.password is not None:
        return False, "must not contain credentials"
    if livemode and parts.scheme != "https":
        return False, "must use https in live mode"
    for entry in tenant.return_url_allowlist:
        allowed = urlsplit(entry)
        if _origin(allowed) != _origin(parts):
            continue
        prefix = allowed.path.rstrip("/")
        if not prefix or parts.path == prefix or parts.path.startswith(prefix + "/"):
            return True, ""
    return False, "is not on this workspace's return URL allowlist"
