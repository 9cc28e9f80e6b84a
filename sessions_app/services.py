"""Everything that writes cancellation sessions."""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.sql import InsertQuery
from django.utils import timezone

from billing.gateway import StripeGatewayError, Subscription, gateway_for
from experiments.selectors import assignment_for
from mrrx.api.errors import ApiError
from mrrx.formats import iso_timestamp
from mrrx.languages import language_codes, language_supported
from mrrx.metrics import record_session_created
from offers.segments import flow_select, flows_use_country
from offers.selectors import flow_config_recent
from tenants.models import Tenant
from tenants.selectors import return_url_allowed
from webhooks.services import event_emit, event_emit_many, event_emit_select

from .models import ACTIVE_STATUSES, OPENED_STATUSES, EndReason, Session, SessionStatus
from .serializers import flow_from, session_event_data, survey_from
from .tokens import session_token

logger = logging.getLogger(__name__)

SESSION_LIFETIME = timedelta(hours=24)
# Stripe statuses from which there is nothing left to cancel.
ENDED_SUBSCRIPTION_STATUSES = ("canceled", "incomplete_expired")


def stripe_error_to_api(exc: StripeGatewayError) -> ApiError:
    if exc.code == "subscription_not_found":
        return ApiError("subscription_not_found", exc.message)
    if exc.code == "invalid_customer":
        return ApiError("invalid_customer", exc.message)
    return ApiError(
        "stripe_error",
        "Stripe could not be reached or refused the request; try again.",
        details={"stripe_code": exc.stripe_code, "transient": exc.transient},
    )


def locale_clean(locale: str) -> str:
    """A ``locale`` sent at creation as the language code it names; ``""`` for none."""
    if not locale:
        return ""
    language = language_supported(locale)
    if language is None:
        codes = ", ".join(language_codes())
        raise ApiError(
            "validation_error",
            f"locale must be one of {codes}.",
            details={"locale": f"unknown language {locale!r}; one of {codes}"},
        )
    return language


def _resolve_subscription(
    *,
    tenant: Tenant,
    livemode: bool,
    customer_id: str | None,
    customer_email: str | None,
    subscription_id: str | None,
) -> tuple[str, Subscription]:
    """Find the customer and subscription in Stripe, in the order the API promises."""
    try:
        gateway = gateway_for(tenant=tenant, livemode=livemode)
        if customer_id is None:
            customer_id = gateway.customer_find_by_email(customer_email or "")
            if customer_id is None:
                raise ApiError(
                    "invalid_customer",
                    "No customer with that email in the connected Stripe account.",
                    details={"customer_email": customer_email},
                )
        if subscription_id is None:
            if not gateway.customer_exists(customer_id):
                raise ApiError(
                    "invalid_customer",
                    "Customer not found in the connected Stripe account.",
                    details={"customer_id": customer_id},
                )
            live = gateway.subscriptions_live_for_customer(customer_id)
            if not live:
                raise ApiError(
                    "subscription_not_found",
                    "The customer has no live subscription.",
                    details={"customer_id": customer_id},
                )
            if len(live) > 1:
                raise ApiError(
                    "validation_error",
                    "The customer has several live subscriptions; say which one.",
                    details={
                        "subscription_id": "required when the customer has several live "
                        "subscriptions: " + ", ".join(s.id for s in live)
                    },
                )
            subscription = live[0]
        else:
            subscription = gateway.subscription_get(subscription_id)
    except StripeGatewayError as exc:
        raise stripe_error_to_api(exc) from exc
    if subscription.customer_id != customer_id:
        raise ApiError(
            "invalid_customer",
            "The subscription does not belong to that customer.",
            details={"customer_id": customer_id, "subscription_id": subscription.id},
        )
    if subscription.status in ENDED_SUBSCRIPTION_STATUSES:
        raise ApiError(
            "subscription_already_canceled",
            "The subscription is already canceled.",
            details={"subscription_id": subscription.id},
        )
    return customer_id, subscription


def _json_ready(value: Any) -> Any:
    # Discounts nest (with their end dates): every level becomes JSON.
    if isinstance(value, datetime):
        return iso_timestamp(value)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def _snapshot(subscription: Subscription) -> dict[str, Any]:
    return _json_ready(asdict(subscription))


def subscription_fields(subscription: Subscription, *, country: bool = False) -> dict[str, Any]:
    """A session's copy of its subscription, as Stripe described it when the session began.

    The customer's country is kept only with ``country`` (some flow's rule asks for it):
    MRRX holds no more of a customer's address than it uses.
    """
    snapshot = _snapshot(subscription)
    if not country:
        snapshot.pop("customer_country", None)
    return {
        "customer_id": subscription.customer_id,
        "subscription_id": subscription.id,
        "product_name": subscription.product_name,
        "price_id": subscription.price_id,
        "price_amount": subscription.amount,
        "price_currency": subscription.currency,
        "price_interval": subscription.interval,
        "price_interval_count": subscription.interval_count,
        "subscription_snapshot": snapshot,
    }


def flow_fields(
    *,
    tenant: Tenant,
    livemode: bool,
    subscription: Subscription,
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    now: datetime,
) -> dict[str, Any]:
    """A new session's subscription fields with its segment flow: the first enabled flow
    of the workspace's configuration (by priority) whose rule the subscription matches,
    ``flow_id`` ``""`` for the default flow, and ``flow_match`` saying why (each flow
    tried, matched or the first condition that failed with the value it saw)."""
    config = flow_config_recent(tenant=tenant, livemode=livemode)
    fields = subscription_fields(subscription, country=flows_use_country(config))
    flow, match = flow_select(
        config=config,
        subscription=fields["subscription_snapshot"],
        context=context,
        metadata=metadata,
        now=now,
    )
    return {**fields, "flow_id": flow.id if flow else "", "flow_match": match}


def session_create(
    *,
    tenant: Tenant,
    livemode: bool,
    customer_id: str | None = None,
    customer_email: str | None = None,
    subscription_id: str | None = None,
    return_url: str | None = None,
    metadata: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
    hub_session_id: str = "",
    return_url_is_ours: bool = False,
    locale: str = "",
) -> tuple[Session, str]:
    """Start a cancellation session; returns it with its hosted-flow token.

    Checks, in order: the return URL is allowed, the subscription exists in the connected
    Stripe account, belongs to the customer, is not canceled, and has no active session
    (the last held by a unique constraint, so it stands under concurrency).

    ``hub_session_id`` links a session the subscription hub opens to that visit; such a
    session returns to the hub page, a URL of MRRX's own rather than one the merchant sent,
    so ``return_url_is_ours`` skips the allowlist for it (never set from API input).

    ``locale``, when given, is the language of the subscriber's pages and receipt: one of
    ``settings.LANGUAGES`` (or a regional variant of one), else a ``validation_error``.
    """
    language = locale_clean(locale)
    if return_url and not return_url_is_ours:
        allowed, why = return_url_allowed(tenant=tenant, url=return_url, livemode=livemode)
        if not allowed:
            raise ApiError(
                "validation_error",
                f"return_url {why}.",
                details={"return_url": why},
            )
    customer_id, subscription = _resolve_subscription(
        tenant=tenant,
        livemode=livemode,
        customer_id=customer_id,
        customer_email=customer_email,
        subscription_id=subscription_id,
    )
    now = timezone.now()
    # The running experiment's arm, from the subscription id: a returning subscriber
    # stays in the arm they had.
    assignment = assignment_for(
        tenant_id=tenant.pk, livemode=livemode, subscription_id=subscription.id
    )
    session = Session(
        tenant=tenant,
        livemode=livemode,
        **flow_fields(
            tenant=tenant,
            livemode=livemode,
            subscription=subscription,
            context=context,
            metadata=metadata,
            now=now,
        ),
        return_url=return_url or tenant.default_return_url,
        metadata=metadata or {},
        context=context or {},
        locale=language,
        hub_session_id=hub_session_id,
        experiment_id=assignment.experiment_id if assignment else "",
        experiment_arm=assignment.arm_key if assignment else "",
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    # On PostgreSQL the session and its event are one statement, atomic on its own: run
    # bare, it spares the BEGIN and COMMIT round trips (nested, it keeps its savepoint, so
    # that a refused insert leaves the caller's transaction usable).
    single_statement = connection.vendor == "postgresql"
    try:
        with (
            transaction.atomic()
            if connection.in_atomic_block or not single_statement
            else nullcontext()
        ):
            if single_statement:
                _insert_with_created_event(session)
            else:
                session.save(force_insert=True)
                event_emit(
                    tenant=tenant,
                    livemode=livemode,
                    type="session.created",
                    data=session_event_data(session),
                )
    except IntegrityError as exc:
        existing = (
            Session.objects.filter(
                tenant=tenant,
                livemode=livemode,
                subscription_id=subscription.id,
                status__in=ACTIVE_STATUSES,
            )
            .values_list("id", flat=True)
            .first()
        )
        if existing is None:
            raise
        raise ApiError(
            "session_already_exists",
            "An active session already exists for this subscription.",
            details={"session_id": existing, "subscription_id": subscription.id},
        ) from exc
    record_session_created(source=session.source, livemode=livemode)
    token = session_token(
        session_id=session.id,
        tenant_id=tenant.pk,
        livemode=livemode,
        expires_at=session.expires_at,
    )
    return session, token


def _insert_with_created_event(session: Session) -> None:
    """Write a new session, its ``session.created`` event and the event's deliveries in
    one statement (PostgreSQL): the session's ``INSERT ... RETURNING`` feeds the event's,
    one round trip where saving and emitting took two. The event's ``data`` is built from
    the row as written, as ``session_event_data`` builds it from the instance."""
    query = InsertQuery(Session)
    query.insert_values(Session._meta.local_concrete_fields, [session])
    [(insert_sql, params)] = query.get_compiler(connection=connection).as_sql()
    event_emit_select(
        type="session.created",
        source_sql=f"{insert_sql} RETURNING {', '.join(_EVENT_FIELDS)}, status",
        params=params,
        data=_CREATED_EVENT_DATA_SQL,
    )
    session._state.adding = False
    session._state.db = connection.alias


def session_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/c/{token}"


# The columns an ended session's event is built from.
_EVENT_FIELDS = (
    "id",
    "tenant_id",
    "livemode",
    "customer_id",
    "subscription_id",
    "metadata",
    "survey_reason",
    "survey_reason_other",
    "survey_feedback",
    "selected_action",
    "source",
    "experiment_id",
    "experiment_arm",
    "flow_id",
    "flow_match",
)


# The data of an ended session's ``session.expired`` event in SQL, over the row as the
# ending statement returns it (``src``): what ``_ended_event_data`` builds in Python.
_END_EVENT_DATA_SQL = {
    "session_id": "src.id",
    "subscription_id": "src.subscription_id",
    "customer_id": "src.customer_id",
    "status": "src.status",
    "end_reason": "src.end_reason",
    "action": "NULLIF(src.selected_action, '')",
    "survey_response": (
        "CASE WHEN src.survey_reason = '' THEN NULL ELSE json_build_object("
        "'reason', src.survey_reason, 'reason_other', NULLIF(src.survey_reason_other, ''),"
        " 'feedback', NULLIF(src.survey_feedback, '')) END"
    ),
    "metadata": "src.metadata",
    "source": "src.source",
    "experiment": (
        "CASE WHEN src.experiment_id = '' THEN NULL ELSE json_build_object("
        "'id', src.experiment_id, 'arm', src.experiment_arm) END"
    ),
    "flow": (
        "CASE WHEN src.flow_id = '' THEN NULL ELSE json_build_object("
        "'id', src.flow_id, 'name', src.flow_match->>'flow_name') END"
    ),
}


# A new session's ``session.created`` data in SQL: an ended session's without the ending.
_CREATED_EVENT_DATA_SQL = {
    key: sql for key, sql in _END_EVENT_DATA_SQL.items() if key != "end_reason"
}


def _end_sessions(*, filters: dict[str, Any], status: str, end_reason: str, now: datetime) -> int:
    """Move every matching session to ``status`` and write its ``session.expired`` event.

    On PostgreSQL both are one statement (``UPDATE ... RETURNING`` feeding the events'
    ``INSERT ... SELECT``): each row is written once, and no event is ever owed. Elsewhere
    the update marks each row's event as owed, so the events written afterwards
    (``sessions_emit_end_events``) can lag but never be lost.
    """
    queryset = Session.objects.filter(**filters)
    if connection.vendor != "postgresql":
        return queryset.update(
            status=status, end_reason=end_reason, ended_at=now, end_event_pending=True
        )
    query = queryset.query
    where, where_params = query.get_compiler(connection=connection).compile(query.where)
    table = Session._meta.db_table
    source = (
        f"UPDATE {table} SET status = %s, end_reason = %s, ended_at = %s WHERE {where}"  # noqa: S608
        f" RETURNING {', '.join(_EVENT_FIELDS)}, status, end_reason"
    )
    return event_emit_select(
        type="session.expired",
        source_sql=source,
        params=[status, end_reason, now, *where_params],
        data=_END_EVENT_DATA_SQL,
    )


def sessions_emit_end_events(
    *, batch: int = 5000, budget_seconds: float = 40, filters: dict[str, Any] | None = None
) -> int:
    """Write the ``session.expired`` events owed by ended sessions, a batch at a time,
    for at most about ``budget_seconds`` (a periodic task's share; the rest waits for the
    next run). ``filters`` narrows it to some sessions: a request that ended its own
    writes their events without taking on the backlog of every workspace."""
    total = 0
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        with transaction.atomic():
            rows = list(
                Session.objects.select_for_update(skip_locked=True)
                .filter(end_event_pending=True, **(filters or {}))
                .values(*_EVENT_FIELDS, "status", "end_reason")[:batch]
            )
            if not rows:
                break
            event_emit_many(
                type="session.expired",
                items=[(row["tenant_id"], row["livemode"], _ended_event_data(row)) for row in rows],
            )
            Session.objects.filter(id__in=[row["id"] for row in rows]).update(
                end_event_pending=False
            )
        total += len(rows)
    return total


def _ended_event_data(row: dict[str, Any]) -> dict[str, Any]:
    survey = survey_from(row["survey_reason"], row["survey_reason_other"], row["survey_feedback"])
    return {
        "session_id": row["id"],
        "subscription_id": row["subscription_id"],
        "customer_id": row["customer_id"],
        "status": row["status"],
        "end_reason": row["end_reason"],
        "action": row["selected_action"] or None,
        "outcome": None,
        "survey_response": survey,
        "metadata": row["metadata"],
        "livemode": row["livemode"],
        "source": row["source"],
        "experiment": (
            {"id": row["experiment_id"], "arm": row["experiment_arm"]}
            if row["experiment_id"]
            else None
        ),
        "flow": flow_from(row["flow_id"], row["flow_match"]),
    }


def sessions_expire_due(*, now: datetime | None = None) -> dict[str, int]:
    """Sessions past ``expires_at``: never opened → ``expired``, opened → ``abandoned``.

    One set-based statement per status, which on PostgreSQL writes their events too;
    elsewhere the events follow in batches.
    """
    now = now or timezone.now()
    with transaction.atomic():
        result = {
            "expired": _end_sessions(
                filters={"status": SessionStatus.CREATED, "expires_at__lte": now},
                status=SessionStatus.EXPIRED,
                end_reason=EndReason.TIMED_OUT,
                now=now,
            ),
            "abandoned": _end_sessions(
                filters={"status__in": OPENED_STATUSES, "expires_at__lte": now},
                status=SessionStatus.ABANDONED,
                end_reason=EndReason.TIMED_OUT,
                now=now,
            ),
        }
    sessions_emit_end_events()
    return result


def sessions_end_for_canceled_subscription(
    *,
    tenant: Tenant,
    livemode: bool,
    subscription_id: str,
    end_reason: str = EndReason.SUBSCRIPTION_CANCELED,
) -> int:
    """A subscription canceled outside a session's flow (in Stripe, or by the direct cancel
    API: ``end_reason``) ends its active session (not one executing: that one is our own
    action, and finishes on its own)."""
    now = timezone.now()
    common = {"tenant": tenant, "livemode": livemode, "subscription_id": subscription_id}
    with transaction.atomic():
        ended = _end_sessions(
            filters={**common, "status": SessionStatus.CREATED},
            status=SessionStatus.EXPIRED,
            end_reason=end_reason,
            now=now,
        )
        ended += _end_sessions(
            filters={**common, "status__in": OPENED_STATUSES},
            status=SessionStatus.ABANDONED,
            end_reason=end_reason,
            now=now,
        )
    if ended:
        sessions_emit_end_events(filters=common)
    return ended
