"""Writing the audit log, the one way old entries leave it, and the one way a person's
details leave the entries that hold them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from .changes import changes_masked
from .context import Actor, actor_for_request, client_of, current_request
from .models import ActorKind, AuditEntry

logger = logging.getLogger(__name__)

PRUNE_BATCH = 10_000
# The session setting the PostgreSQL trigger reads (migration 0002): rows created before
# it may be deleted, in the transaction that set it and nowhere else.
PRUNE_SETTING = "mrrx.audit_prune_before"
# Read by the same trigger (migration 0004): entries of the workspace it names may have
# their changes, network and user agent rewritten, in that transaction only.
REDACT_SETTING = "mrrx.audit_redact_tenant"


def audit_record(
    *,
    action: str,
    target: models.Model,
    changes: dict[str, Any] | None = None,
    tenant_id: str | None = None,
    livemode: bool | None = None,
    actor: Actor | None = None,
) -> AuditEntry | None:
    """Add an entry saying ``action`` happened to ``target``.

    Call it inside the transaction of the change it records, so that both are kept or
    neither. The workspace and mode default to ``target``'s own (``tenant_id``,
    ``livemode``); the actor to whoever the current request is for, else the system.
    Secrets in ``changes`` are masked. Never raises: an entry that cannot be written is
    logged and the change goes on (a savepoint keeps the caller's transaction usable).
    """
    try:
        request = current_request()
        actor = actor or actor_for_request(request)
        # A system action has no caller of its own, even when a request happens to run it.
        ip, user_agent = client_of(None if actor.kind == ActorKind.SYSTEM else request)
        if tenant_id is None:
            tenant_id = getattr(target, "tenant_id", None) or ""
        if livemode is None:
            mode = getattr(target, "livemode", None)
            livemode = mode if isinstance(mode, bool) else None
        with transaction.atomic():
            return AuditEntry.objects.create(
                tenant_id=str(tenant_id),
                livemode=livemode,
                actor_kind=actor.kind,
                actor_id=actor.id[:255],
                actor_label=actor.label[:255],
                action=action,
                object_type=target._meta.label_lower,
                object_id=str(target.pk or "")[:255],
                object_repr=str(target)[:200],
                changes=changes_masked(changes or {}),
                ip=ip,
                user_agent=user_agent,
            )
    except Exception:
        logger.exception("Could not write the audit entry %s for %r", action, target)
        return None


def audit_entries_prune(*, now: datetime | None = None) -> int:
    """Delete the entries older than ``settings.AUDIT_RETENTION``; returns how many.

    The only deletion the log allows. It bypasses the model's guard with a raw statement,
    and on PostgreSQL sets ``mrrx.audit_prune_before`` around that statement only, so the
    trigger lets through rows older than that moment and nothing younger. The setting is
    local to the transaction (``set_config(..., true)``) and cleared right after the
    statement, so neither the rest of a caller's transaction nor the next user of the
    connection inherits it. Batches keep each transaction short after a long pause.
    """
    cutoff = (now or timezone.now()) - settings.AUDIT_RETENTION
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT set_config(%s, %s, true)", [PRUNE_SETTING, cutoff.isoformat()]
                )
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN "  # noqa: S608 - the table name is ours
                f"(SELECT id FROM {table} WHERE created_at < %s LIMIT %s)",
                [connection.ops.adapt_datetimefield_value(cutoff), PRUNE_BATCH],
            )
            batch = cursor.rowcount
            if connection.vendor == "postgresql":
                cursor.execute("SELECT set_config(%s, '', true)", [PRUNE_SETTING])
        deleted += batch
        if batch < PRUNE_BATCH:
            return deleted


@dataclass(frozen=True)
class AuditRedaction:
    """What one entry says once a person's details are erased from it."""

    changes: dict[str, Any]
    # The person was the caller: their network and user agent go too.
    forget_client: bool = False


def audit_entries_redact(
    *, tenant_id: str, redactions: Mapping[str, AuditRedaction], user_agent: str
) -> int:
    """Rewrite what entries of one workspace say about a person; returns how many changed.

    Erasure's only way into the log. Each entry named in ``redactions`` gets its new
    ``changes``; where ``forget_client`` is set it also loses its caller's network (``ip``
    becomes null) and a non-empty user agent becomes ``user_agent``. Who acted, what was
    done to which object, and when, stay as they were. Like the prune it bypasses the
    model's guard with raw statements, and on PostgreSQL sets ``mrrx.audit_redact_tenant``
    around them only: the trigger then lets through an ``UPDATE`` of that workspace's rows
    that touches nothing but those three columns, and ``ip`` only to null it. Runs in the
    caller's transaction, so the entries change with the rows they describe, or not at all.
    """
    if not redactions:
        return 0
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    changes_field = AuditEntry._meta.get_field("changes")
    changed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, %s, true)", [REDACT_SETTING, tenant_id])
        for entry_id, redaction in redactions.items():
            cursor.execute(
                f"UPDATE {table} SET changes = %s, "  # noqa: S608 - the table name is ours
                "ip = CASE WHEN %s THEN NULL ELSE ip END, "
                "user_agent = CASE WHEN %s AND user_agent <> '' THEN %s ELSE user_agent END "
                "WHERE id = %s AND tenant_id = %s",
                [
                    changes_field.get_db_prep_save(redaction.changes, connection),
                    redaction.forget_client,
                    redaction.forget_client,
                    user_agent,
                    entry_id,
                    tenant_id,
                ],
            )
            changed += cursor.rowcount
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, '', true)", [REDACT_SETTING])
    return changed
