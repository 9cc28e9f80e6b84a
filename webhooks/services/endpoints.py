"""Webhook endpoints: validating, creating, updating, rotating secrets, disabling and
enabling them, and telling the members when one is disabled."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from mrrx.crypto import encrypt
from mrrx.formats import iso_timestamp
from tenants.models import Membership, Tenant

from .. import ssrf
from ..events import event_type_names
from ..models import Delivery, Endpoint
from ..signing import generate_secret

logger = logging.getLogger(__name__)

USER_AGENT = "MRRX-Webhook/1.0"
MAX_URL_LENGTH = 2000


def endpoint_validate(
    *, livemode: bool, url: str, event_types: Iterable[str] | None
) -> tuple[str, list[str]]:
    """Check an endpoint's URL and event types; return them cleaned.

    Raises ``ValidationError`` keyed by field, for forms and the command to show.
    Hosts are resolved and checked again at every send; here only an address written
    into the URL is refused, so that saving never depends on DNS.
    """
    errors: dict[str, str] = {}
    url = (url or "").strip()
    try:
        if len(url) > MAX_URL_LENGTH:
            raise ValidationError("too long")
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        errors["url"] = f"Enter a valid http:// or https:// URL (at most {MAX_URL_LENGTH} chars)."
    else:
        parts = urlsplit(url)
        literal = ssrf.literal_address(parts.hostname or "")
        reason = literal and ssrf.refusal_reason(
            literal, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK
        )
        if livemode and parts.scheme != "https":
            errors["url"] = "Live-mode endpoints must use an https:// URL."
        elif parts.username or parts.password:
            errors["url"] = "Put no credentials in the URL; verify the signature instead."
        elif reason:
            errors["url"] = f"MRRX does not send webhooks to this address ({reason})."
    types = list(dict.fromkeys(event_types or []))
    unknown = [name for name in types if name not in event_type_names()]
    if unknown:
        errors["event_types"] = (
            f"Unknown event types: {', '.join(unknown)}. "
            f"Known types: {', '.join(event_type_names())}."
        )
    if errors:
        raise ValidationError(errors)
    return url, types


def endpoint_create(
    *,
    tenant: Tenant,
    livemode: bool,
    url: str,
    description: str = "",
    event_types: Iterable[str] | None = None,
    created_by: Any = None,
) -> tuple[Endpoint, str]:
    """Create an endpoint; returns it with its secret, which exists in plaintext only in
    this return value (it is stored encrypted)."""
    url, types = endpoint_validate(livemode=livemode, url=url, event_types=event_types)
    secret = generate_secret()
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            tenant=tenant,
            livemode=livemode,
            url=url,
            description=description.strip(),
            event_types=types,
            secret_encrypted=encrypt(secret),
            created_by=created_by,
        )
        audit_record(
            action=AuditAction.WEBHOOK_SECRET_ISSUED, target=endpoint, changes={"url": url}
        )
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str] | None = None,
) -> Endpoint:
    """Change an endpoint's URL, description or event types (None leaves a field as is)."""
    new_url, types = endpoint_validate(
        livemode=endpoint.livemode,
        url=endpoint.url if url is None else url,
        event_types=endpoint.event_types if event_types is None else event_types,
    )
    endpoint.url, endpoint.event_types = new_url, types
    if description is not None:
        endpoint.description = description.strip()
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=["url", "event_types", "description", "updated_at"])
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint) -> str:
    """Give the endpoint a new secret and return it (shown once).

    The old secret keeps signing beside the new one for
    ``WEBHOOK_SECRET_ROTATION_OVERLAP`` (24 hours), so receivers can switch without
    dropping events. Rotating again within that time retires the oldest secret at once.
    """
    secret = generate_secret()
    now = timezone.now()
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + settings.WEBHOOK_SECRET_ROTATION_OVERLAP
        locked.secret_encrypted = encrypt(secret)
        locked.secret_rotated_at = now
        locked.updated_at = now
        locked.save(
            update_fields=[
                "previous_secret_encrypted",
                "previous_secret_expires_at",
                "secret_encrypted",
                "secret_rotated_at",
                "updated_at",
            ]
        )
        audit_record(
            action=AuditAction.WEBHOOK_SECRET_ROTATED,
            target=locked,
            changes={"previous_signs_until": locked.previous_secret_expires_at},
        )
    for name in ("previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted",
                 "secret_rotated_at", "updated_at"):  # fmt: skip
        setattr(endpoint, name, getattr(locked, name))
    return secret


def endpoint_disable(*, endpoint: Endpoint, reason: str, notify: bool = False) -> bool:
    """Stop sending to an endpoint; its pending deliveries fail with ``reason``.

    Returns whether this call disabled it (False when it already was). With ``notify``,
    the workspace's members are emailed once the change commits.
    """
    now = timezone.now()
    reason = reason[:300]
    with transaction.atomic():
        changed = Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now
        )
        if changed:
            audit_record(
                action=AuditAction.WEBHOOK_ENDPOINT_DISABLED,
                target=endpoint,
                changes={"reason": reason},
            )
            Delivery.objects.filter(endpoint_id=endpoint.pk, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.FAILED,
                next_attempt_at=None,
                completed_at=now,
                last_error=f"Endpoint disabled: {reason}",
            )
            if notify:
                endpoint_id = endpoint.pk
                transaction.on_commit(lambda: _notify_endpoint_disabled(endpoint_id=endpoint_id))
    endpoint.refresh_from_db(fields=["enabled", "disabled_at", "disabled_reason", "updated_at"])
    return bool(changed)


def endpoint_enable(*, endpoint: Endpoint) -> Endpoint:
    """Send to the endpoint again (failed deliveries stay failed until resent)."""
    now = timezone.now()
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, disabled_at=None, disabled_reason="", failing_since=None, updated_at=now
        )
        audit_record(action=AuditAction.WEBHOOK_ENDPOINT_ENABLED, target=endpoint)
    endpoint.refresh_from_db()
    return endpoint


def _notify_endpoint_disabled(*, endpoint_id: str) -> None:
    endpoint = Endpoint.objects.select_related("tenant").filter(pk=endpoint_id).first()
    if endpoint is None:
        return
    recipients = sorted(
        set(
            Membership.objects.filter(tenant_id=endpoint.tenant_id)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if not recipients:
        return
    subject = f"[MRRX] Webhook endpoint disabled: {endpoint.url}"
    body = (
        f"The {endpoint.mode}-mode webhook endpoint {endpoint.url} ({endpoint.pk}) of the "
        f"workspace {endpoint.tenant.name} was disabled on "
        f"{iso_timestamp(endpoint.disabled_at)}.\n\n"
        f"Reason: {endpoint.disabled_reason}\n\n"
        "No events are sent to it until it is enabled again in the admin. After enabling "
        'it, use "Resend failed deliveries since..." to send what it missed.\n'
    )
    # One message per member, so that members do not see each other's addresses.
    messages = [EmailMessage(subject, body, None, [recipient]) for recipient in recipients]
    try:
        get_connection().send_messages(messages)
    except Exception:
        logger.exception("Could not email the members of %s about endpoint %s",
                         endpoint.tenant_id, endpoint.pk)  # fmt: skip
