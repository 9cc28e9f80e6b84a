"""Everything that writes Stripe connections and inbound Stripe events."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from mrrx.crypto import decrypt, encrypt
from tenants.models import Tenant

from . import gateway
from .gateway import StripeGatewayError, WebhookSignatureInvalid
from .inbound import handlers_for, inbound_event_build, on_stripe_event
from .models import StripeConnection, StripeEvent, StripeOAuthStateUse

logger = logging.getLogger(__name__)

KEY_PREFIXES = ("rk_test_", "rk_live_", "sk_test_", "sk_live_")
_STATE_SALT = "billing.stripe-oauth-state"


class StripeConnectError(Exception):
    """Connecting failed; the message is meant for the person connecting. Nothing was stored."""


class OAuthStateInvalid(StripeConnectError):
    """The OAuth ``state`` is forged, expired, already used or someone else's."""


@dataclass(frozen=True)
class KeyConnectResult:
    connection: StripeConnection
    warnings: list[str]


# --- Connecting by key ---------------------------------------------------------------------
def _key_mode(key: str) -> tuple[str, bool]:
    """(kind "rk"/"sk", livemode) from a pasted key, or StripeConnectError."""
    if key.startswith(("pk_test_", "pk_live_")):
        raise StripeConnectError(
            "That is a publishable key. Paste a restricted key (rk_test_… or rk_live_…)."
        )
    if not key.startswith(KEY_PREFIXES) or len(key) < 16 or any(c.isspace() for c in key):
        raise StripeConnectError(
            "That does not look like a Stripe key. Paste a restricted key (rk_test_… or rk_live_…)."
        )
    return key[:2], key[3:7] == "live"


def _check_webhook_secret(secret: str) -> str:
    secret = secret.strip()
    if not secret.startswith("whsec_"):
        raise StripeConnectError("A webhook signing secret starts with whsec_.")
    return secret


def stripe_connection_connect_key(
    *,
    tenant: Tenant,
    key: str,
    livemode: bool | None = None,
    webhook_secret: str | None = None,
    user: Any = None,
) -> KeyConnectResult:
    """Connect a workspace's Stripe (in the key's mode) with a pasted key.

    The key is checked with a harmless read first; a key Stripe refuses, or one whose
    mode is not ``livemode``, raises :class:`StripeConnectError` and nothing is stored.
    It is stored encrypted and never shown again (admin sees its last four characters).
    Connecting again with a new key replaces the old one (key rotation).
    """
    key = key.strip()
    kind, key_livemode = _key_mode(key)
    if livemode is not None and livemode != key_livemode:
        raise StripeConnectError(
            f"That is a {'live' if key_livemode else 'test'}-mode key, but you are connecting "
            f"{'live' if livemode else 'test'} mode."
        )
    warnings = []
    if kind == "sk":
        warnings.append(
            "A full secret key works, but a restricted key limited to customers, products, "
            "prices, coupons and subscriptions is safer."
        )
    secret = _check_webhook_secret(webhook_secret) if webhook_secret else None
    existing = StripeConnection.objects.filter(tenant=tenant, livemode=key_livemode).first()
    if existing is not None and existing.method == StripeConnection.Method.OAUTH:
        raise StripeConnectError(
            "This workspace is connected with Stripe Connect in that mode. Disconnect it first."
        )
    try:
        gateway.key_check(api_key=key, livemode=key_livemode)
    except StripeGatewayError as exc:
        if exc.transient:
            raise StripeConnectError(
                f"Could not check the key with Stripe ({exc.message}). Try again."
            ) from exc
        raise StripeConnectError(f"Stripe refused this key: {exc.message}") from exc
    fields = {
        "method": StripeConnection.Method.KEY,
        "account_id": "",
        "oauth_scope": "",
        "encrypted_key": encrypt(key),
        "key_kind": kind,
        "key_last4": key[-4:],
        "connected_at": timezone.now(),
        "connected_by": user if getattr(user, "pk", None) else None,
        "last_checked_at": timezone.now(),
        "last_check_error": "",
    }
    if secret:
        fields["encrypted_webhook_secret"] = encrypt(secret)
    with transaction.atomic():
        connection, _ = StripeConnection.objects.update_or_create(
            tenant=tenant, livemode=key_livemode, defaults=fields
        )
        audit_record(
            action=AuditAction.STRIPE_KEY_REPLACED if existing else AuditAction.STRIPE_CONNECTED,
            target=connection,
            changes={"method": connection.method, "last4": connection.key_last4},
        )
    return KeyConnectResult(connection=connection, warnings=warnings)


def stripe_connection_set_webhook_secret(
    *, connection: StripeConnection, secret: str
) -> StripeConnection:
    """Store the signing secret of the key-connected workspace's own webhook endpoint."""
    connection.encrypted_webhook_secret = encrypt(_check_webhook_secret(secret))
    with transaction.atomic():
        StripeConnection.objects.filter(pk=connection.pk).update(
            encrypted_webhook_secret=connection.encrypted_webhook_secret
        )
        audit_record(action=AuditAction.STRIPE_WEBHOOK_SECRET_REPLACED, target=connection)
    return connection


def stripe_connection_webhook_url(connection: StripeConnection) -> str:
    """Where Stripe should send events: the connection's own endpoint (key-connected)."""
    if connection.method == StripeConnection.Method.OAUTH:
        return settings.PUBLIC_BASE_URL + reverse("billing:stripe-webhook")
    return settings.PUBLIC_BASE_URL + reverse(
        "billing:stripe-webhook-connection", args=[connection.pk]
    )


def stripe_connection_check(*, connection: StripeConnection) -> str | None:
    """Try the connection with a harmless read; records and returns the error, if any."""
    error = None
    try:
        gateway.gateway_for_connection(connection).check()
    except StripeGatewayError as exc:
        error = exc.message
    connection.last_checked_at = timezone.now()
    connection.last_check_error = (error or "")[:500]
    StripeConnection.objects.filter(pk=connection.pk).update(
        last_checked_at=connection.last_checked_at, last_check_error=connection.last_check_error
    )
    return error


def stripe_connection_disconnect(*, connection: StripeConnection) -> None:
    """Forget a connection; a Connect one is deauthorized at Stripe first.

    If Stripe says the account was already disconnected, that is fine; any other Stripe
    error is raised and the connection is kept.
    """
    if connection.method == StripeConnection.Method.OAUTH:
        try:
            gateway.oauth_deauthorize(
                livemode=connection.livemode, account_id=connection.account_id
            )
        except StripeGatewayError as exc:
            if exc.stripe_type != "oauth_error" or exc.stripe_code != "invalid_client":
                raise
            logger.info("Stripe account %s was already disconnected", connection.account_id)
    with transaction.atomic():
        audit_record(
            action=AuditAction.STRIPE_DISCONNECTED,
            target=connection,
            changes={"method": connection.method, "account_id": connection.account_id},
        )
        connection.delete()


# --- Connecting by OAuth (Stripe Connect) --------------------------------------------------
def oauth_redirect_uri() -> str:
    return settings.PUBLIC_BASE_URL + reverse("billing:stripe-oauth-callback")


def oauth_state_issue(*, tenant: Tenant, livemode: bool, user: Any) -> str:
    """A signed, expiring, single-use ``state`` bound to the workspace, mode and user."""
    payload = {"n": secrets.token_urlsafe(18), "t": tenant.pk, "l": livemode, "u": user.pk}
    return signing.dumps(payload, salt=_STATE_SALT, compress=True)


def oauth_authorize_url(*, tenant: Tenant, livemode: bool, user: Any) -> str:
    """Where "Connect Stripe" sends the merchant (raises StripeGatewayError if unconfigured)."""
    state = oauth_state_issue(tenant=tenant, livemode=livemode, user=user)
    return gateway.oauth_authorize_url(
        livemode=livemode, state=state, redirect_uri=oauth_redirect_uri()
    )


def _oauth_state_open(state: str, user: Any) -> dict[str, Any]:
    max_age = settings.STRIPE_OAUTH_STATE_MAX_AGE
    try:
        payload = signing.loads(state, salt=_STATE_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise OAuthStateInvalid("This Connect link has expired. Start again from admin.") from exc
    except signing.BadSignature as exc:
        raise OAuthStateInvalid("This Connect request was not started here.") from exc
    if not isinstance(payload, dict) or not {"n", "t", "l", "u"} <= set(payload):
        raise OAuthStateInvalid("This Connect request was not started here.")
    if getattr(user, "pk", None) != payload["u"]:
        raise OAuthStateInvalid("This Connect request was started by someone else.")
    return payload


def stripe_connection_connect_oauth(*, state: str, code: str, user: Any) -> StripeConnection:
    """Finish Stripe Connect: check ``state``, exchange ``code``, store the account id.

    A forged, expired, reused or someone else's ``state`` raises :class:`OAuthStateInvalid`
    and nothing is stored; so does any failure of the exchange (the state is spent then).
    """
    payload = _oauth_state_open(state, user)
    tenant = Tenant.objects.filter(pk=payload["t"]).first()
    if tenant is None:
        raise OAuthStateInvalid("That workspace no longer exists.")
    livemode = bool(payload["l"])
    try:
        with transaction.atomic():
            StripeOAuthStateUse.objects.create(nonce=payload["n"])
    except IntegrityError as exc:
        raise OAuthStateInvalid("This Connect link was already used. Start again.") from exc
    try:
        grant = gateway.oauth_token(livemode=livemode, code=code)
    except StripeGatewayError as exc:
        raise StripeConnectError(f"Stripe did not complete the connection: {exc.message}") from exc
    if grant.livemode != livemode:
        raise StripeConnectError("Stripe connected the other mode than the one asked for.")
    fields = {
        "method": StripeConnection.Method.OAUTH,
        "account_id": grant.account_id,
        "oauth_scope": grant.scope,
        "encrypted_key": "",
        "key_kind": "",
        "key_last4": "",
        "encrypted_webhook_secret": "",
        "connected_at": timezone.now(),
        "connected_by": user,
        "last_checked_at": None,
        "last_check_error": "",
    }
    try:
        with transaction.atomic():
            connection, _ = StripeConnection.objects.update_or_create(
                tenant=tenant, livemode=livemode, defaults=fields
            )
            audit_record(
                action=AuditAction.STRIPE_CONNECTED,
                target=connection,
                changes={"method": connection.method, "account_id": connection.account_id},
            )
    except IntegrityError as exc:
        raise StripeConnectError(
            "That Stripe account is already connected to another workspace."
        ) from exc
    return connection


def oauth_states_prune() -> int:
    """Forget spent OAuth nonces old enough that their states have expired anyway."""
    cutoff = timezone.now() - settings.STRIPE_OAUTH_STATE_MAX_AGE - timedelta(minutes=5)
    deleted, _ = StripeOAuthStateUse.objects.filter(used_at__lt=cutoff).delete()
    return deleted


# --- Inbound Stripe webhooks ---------------------------------------------------------------
@dataclass(frozen=True)
class ReceiveResult:
    event: StripeEvent
    accepted: bool  # a verified Stripe event (answer 2xx) or not (answer 400)
    duplicate: bool
    # Why it was refused, for the answer ("" when accepted).
    problem: str = ""


def _unverified_fields(payload: bytes) -> dict[str, str]:
    """Id and type read from an unverified body, for the record only (never trusted)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    return {
        "stripe_event_id": str(body.get("id") or "")[:255],
        "type": str(body.get("type") or "")[:100],
        "account_id": str(body.get("account") or "")[:64],
    }


def _store_refused(payload: bytes, connection_id: str | None, error: str) -> StripeEvent:
    """A refused body, kept for the record as such (never processed)."""
    return StripeEvent.objects.create(
        **_unverified_fields(payload),
        endpoint_connection_id=(connection_id or "")[:40],
        payload=payload.decode("utf-8", errors="replace"),
        signature_valid=False,
        status=StripeEvent.Status.IGNORED,
        error=error,
    )


def _not_an_event(event: dict[str, Any]) -> str:
    """What makes a verified body something other than a Stripe event ("" if nothing):
    every event has an id, a type and the object it is about."""
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        return "the body is not a Stripe event: it has no event id (evt_...)."
    if not isinstance(event_type, str) or not event_type:
        return "the body is not a Stripe event: it has no type."
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "the body is not a Stripe event: it has no data.object."
    return ""


def _endpoint_secrets(connection_id: str | None) -> list[str]:
    if connection_id is None:
        return list(settings.STRIPE_WEBHOOK_SECRET)
    connection = StripeConnection.objects.filter(
        pk=connection_id, method=StripeConnection.Method.KEY
    ).first()
    if connection is None or not connection.encrypted_webhook_secret:
        return []
    return [decrypt(connection.encrypted_webhook_secret)]


def stripe_event_receive(
    *, payload: bytes, signature_header: str | None, connection_id: str | None = None
) -> ReceiveResult:
    """Store an inbound Stripe webhook, then process it if it is genuine and new.

    Every body is stored, a badly signed one too (as such, never processed).
    ``connection_id`` names the key-connected workspace whose endpoint it came to; None
    is the platform (Connect) endpoint.
    """
    text = payload.decode("utf-8", errors="replace")
    try:
        event = gateway.webhook_event_verify(
            payload=payload,
            signature_header=signature_header,
            secrets=_endpoint_secrets(connection_id),
        )
    except WebhookSignatureInvalid as exc:
        stored = _store_refused(payload, connection_id, f"Signature verification failed: {exc}")
        return ReceiveResult(event=stored, accepted=False, duplicate=False)
    problem = _not_an_event(event)
    if problem:
        # Signed with the endpoint's secret, yet nothing Stripe would send: kept for the
        # record, never processed, and refused so that the sender sees it.
        stored = _store_refused(payload, connection_id, f"The signature verifies, but {problem}")
        return ReceiveResult(event=stored, accepted=False, duplicate=False, problem=problem)
    event_id = str(event.get("id") or "")
    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                stripe_event_id=event_id[:255],
                type=str(event.get("type") or "")[:100],
                account_id=str(event.get("account") or "")[:64],
                livemode=bool(event.get("livemode")),
                endpoint_connection_id=connection_id or "",
                payload=text,
                signature_valid=True,
            )
    except IntegrityError:
        existing = StripeEvent.objects.get(stripe_event_id=event_id, signature_valid=True)
        return ReceiveResult(event=existing, accepted=True, duplicate=True)
    return ReceiveResult(
        event=stripe_event_process(event_id=stored.pk), accepted=True, duplicate=False
    )


def _event_connection(event: StripeEvent) -> StripeConnection | None:
    if event.endpoint_connection_id:
        return StripeConnection.objects.filter(
            pk=event.endpoint_connection_id, livemode=event.livemode
        ).first()
    if not event.account_id:
        return None
    return StripeConnection.objects.filter(
        account_id=event.account_id,
        livemode=event.livemode,
        method=StripeConnection.Method.OAUTH,
    ).first()


def stripe_event_process(*, event_id: str) -> StripeEvent:
    """Run the registered handlers for a stored, verified event, once, in one transaction.

    Already processed events are left alone. Events for no connected workspace or with no
    handler are marked ignored; a handler's exception rolls its work back and marks the
    event failed (reprocess from admin).
    """
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().get(pk=event_id)
        if not event.signature_valid or event.status == StripeEvent.Status.PROCESSED:
            return event
        event.attempts += 1
        connection = _event_connection(event)
        event.connection = connection
        event.tenant = connection.tenant if connection else None
        handlers = handlers_for(event.type)
        if connection is None:
            event.status = StripeEvent.Status.IGNORED
            event.error = (
                f"No workspace is connected to Stripe account {event.account_id or '(platform)'} "
                f"in {'live' if event.livemode else 'test'} mode."
            )
        elif not handlers:
            event.status = StripeEvent.Status.IGNORED
            event.error = ""
        else:
            inbound = inbound_event_build(
                event=json.loads(event.payload), tenant=connection.tenant, livemode=event.livemode
            )
            try:
                with transaction.atomic():
                    for handler in handlers:
                        handler(inbound)
            except Exception as exc:
                logger.exception("Stripe event %s failed in a handler", event.stripe_event_id)
                event.status = StripeEvent.Status.FAILED
                event.error = f"{type(exc).__name__}: {exc}"[:2000]
            else:
                event.status = StripeEvent.Status.PROCESSED
                event.error = ""
                event.processed_at = timezone.now()
            if not StripeConnection.objects.filter(pk=connection.pk).exists():
                event.connection = None  # a handler removed it (deauthorized)
        event.save(
            update_fields=["attempts", "connection", "tenant", "status", "error", "processed_at"]
        )
    return event


def stripe_events_process_stale(*, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Process verified events stored but never processed (the process died in between)."""
    cutoff = timezone.now() - older_than
    stale = StripeEvent.objects.filter(
        signature_valid=True, status=StripeEvent.Status.RECEIVED, received_at__lt=cutoff
    ).values_list("pk", flat=True)
    count = 0
    for event_id in list(stale[:500]):
        stripe_event_process(event_id=event_id)
        count += 1
    return count


@on_stripe_event("account.application.deauthorized")
def _connection_revoked(event: Any) -> None:
    # The merchant disconnected MRRX from their Stripe dashboard: forget the connection.
    if event.account_id:
        StripeConnection.objects.filter(
            tenant=event.tenant,
            livemode=event.livemode,
            method=StripeConnection.Method.OAUTH,
            account_id=event.account_id,
        ).delete()
