"""The session's public shape (001's reference), used by the API and by webhook payloads."""

from __future__ import annotations

from typing import Any

from mrrx.formats import iso_timestamp

from .models import Session


def subscription_repr(session: Session) -> dict[str, Any]:
    return {
        "id": session.subscription_id,
        "product_name": session.product_name,
        "price": {
            "amount": session.price_amount,
            "currency": session.price_currency,
            "interval": session.price_interval,
        },
        "current_period_end": session.subscription_snapshot.get("current_period_end"),
    }


def outcome_repr(session: Session) -> dict[str, Any] | None:
    if not session.outcome_action:
        return None
    return {
        "action": session.outcome_action,
        "executed_at": iso_timestamp(session.executed_at),
        "details": session.outcome_details or {},
    }


def survey_repr(session: Session) -> dict[str, Any] | None:
    return survey_from(session.survey_reason, session.survey_reason_other, session.survey_feedback)


def survey_from(reason: str, reason_other: str, feedback: str) -> dict[str, Any] | None:
    if not reason:
        return None
    return {"reason": reason, "reason_other": reason_other or None, "feedback": feedback or None}


def experiment_repr(session: Session) -> dict[str, str] | None:
    """The experiment and arm (its key) the session was assigned to, or None."""
    if not session.experiment_id:
        return None
    return {"id": session.experiment_id, "arm": session.experiment_arm}


def flow_from(flow_id: str, flow_match: dict[str, Any] | None) -> dict[str, str] | None:
    """The segment flow a session got, by id and by its name when chosen; None for the
    workspace's default flow."""
    if not flow_id:
        return None
    return {"id": flow_id, "name": str((flow_match or {}).get("flow_name") or "")}


def flow_repr(session: Session) -> dict[str, str] | None:
    return flow_from(session.flow_id, session.flow_match)


def session_repr(session: Session) -> dict[str, Any]:
    """``GET /api/v1/sessions/<id>``: field for field the reference shape, plus ours."""
    return {
        "id": session.id,
        "status": session.status,
        "subscription": subscription_repr(session),
        "outcome": outcome_repr(session),
        "survey_response": survey_repr(session),
        "created_at": iso_timestamp(session.created_at),
        "expires_at": iso_timestamp(session.expires_at),
        "customer_id": session.customer_id,
        "metadata": session.metadata,
        "return_url": session.return_url or None,
        "livemode": session.livemode,
        "source": session.source,
        "experiment": experiment_repr(session),
        "flow": flow_repr(session),
    }


def session_event_data(session: Session) -> dict[str, Any]:
    """The ``data`` of every session and subscription webhook event."""
    return {
        "session_id": session.id,
        "subscription_id": session.subscription_id,
        "customer_id": session.customer_id,
        "status": session.status,
        "action": session.outcome_action or session.selected_action or None,
        "outcome": outcome_repr(session),
        "survey_response": survey_repr(session),
        "metadata": session.metadata,
        "livemode": session.livemode,
        "source": session.source,
        "experiment": experiment_repr(session),
        "flow": flow_repr(session),
    }
