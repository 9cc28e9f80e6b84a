"""Everything that writes workspaces, members and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.models import AuditAction
from audit.services import audit_record
from mrrx.recent import RecentReads

from .models import ALL_SCOPES, DEFAULT_SCOPES, ApiKey, Tenant

_BASE62 = string.digits + string.ascii_letters
API_KEY_RANDOM_LENGTH = 40
API_KEY_DISPLAY_CHARS = 8


def apikey_hash(plaintext: str) -> str:
    """The keyed hash an API key is stored and looked up by."""
    secret = settings.API_KEY_HMAC_SECRET.encode()
    return hmac.new(secret, plaintext.encode(), hashlib.sha256).hexdigest()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug = base
    while Tenant.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def tenant_create(*, name: str, slug: str | None = None, **fields: object) -> Tenant:
    """Create a workspace with everything a new workspace starts with."""
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name, slug=slug or _unique_slug(name), **fields)
        for hook in _tenant_created_hooks:
            hook(tenant)
    return tenant


# Other apps give new workspaces their defaults (flow configuration, ...) through this.
_tenant_created_hooks: list = []


def on_tenant_created(hook):  # type: ignore[no-untyped-def]
    """Register ``hook(tenant)`` to run inside ``tenant_create``'s transaction."""
    _tenant_created_hooks.append(hook)
    return hook


def apikey_issue(
    *,
    tenant: Tenant,
    livemode: bool,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    name: str = "",
    expires_at: datetime | None = None,
    created_by=None,  # type: ignore[no-untyped-def]
) -> tuple[ApiKey, str]:
    """Issue a key and return it with its plaintext, which exists only in this return value."""
    scopes = list(dict.fromkeys(scopes))
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"Unknown scopes: {', '.join(sorted(unknown))}")
    for _ in range(5):
        random_part = "".join(secrets.choice(_BASE62) for _ in range(API_KEY_RANDOM_LENGTH))
        plaintext = f"mrrx_{'live' if livemode else 'test'}_{random_part}"
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    tenant=tenant,
                    livemode=livemode,
                    name=name,
                    scopes=scopes,
                    expires_at=expires_at,
                    created_by=created_by,
                    prefix=plaintext[: len("mrrx_test_") + API_KEY_DISPLAY_CHARS],
                    hashed_key=apikey_hash(plaintext),
                )
                audit_record(
                    action=AuditAction.API_KEY_ISSUED,
                    target=key,
                    changes={"name": name, "scopes": scopes, "expires_at": expires_at},
                )
            return key, plaintext
        except IntegrityError:  # a display-prefix collision: draw again
            continue
    raise RuntimeError("Could not draw a unique API key prefix.")


# Keys this process looked up lately (``selectors.apikey_get_by_plaintext``), by hash,
# with their workspaces. A key not found is looked for again at once: it may have been
# issued a moment ago in another process.
RECENT_KEYS: RecentReads[ApiKey | None] = RecentReads(keep_none=False)


def apikey_cache_clear(**kwargs: object) -> None:
    """Forget every key this process read (also a signal receiver, hence the kwargs)."""
    RECENT_KEYS.forget()


def apikey_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; later requests with it get ``invalid_api_key``."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        with transaction.atomic():
            if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
                revoked_at=api_key.revoked_at
            ):
                audit_record(action=AuditAction.API_KEY_REVOKED, target=api_key)
        # Refused at once by this process; by others within API_KEY_CACHE_SECONDS.
        apikey_cache_clear()
    return api_key


def apikey_touch(*, api_key: ApiKey, every_seconds: int = 60) -> None:
    """Record use at most once a minute, so authenticating is not a write per request."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < every_seconds:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
