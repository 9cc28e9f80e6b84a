"""The shapes of MRRX's answers and of the structured inputs, as TypedDicts.

Answers stay the plain dicts the API sent (JSON in, dict out): nothing is lost when a
newer server adds a field, and a type checker still knows every documented key. Keys the
API may leave out are in the ``total=False`` half of a class.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# contact and redirect: deflections, which complete the session with nothing done on Stripe.
Action = Literal["pause", "discount", "downgrade", "extend_trial", "contact", "redirect", "cancel"]
Reason = Literal[
    "too_expensive",
    "not_using_enough",
    "missing_features",
    "switching_competitor",
    "technical_issues",
    "business_closing",
    "other",
]
SessionStatus = Literal[
    "created",
    "viewed",
    "offer_shown",
    "action_selected",
    "survey_completed",
    "executing",
    "completed",
    "failed",
    "expired",
    "abandoned",
]
# "flow": a subscriber's session; "api": a direct cancel; "hub": the subscription hub.
Source = Literal["flow", "api", "hub"]


class Pagination(TypedDict):
    has_more: bool
    next_cursor: str | None


# --- Sessions ------------------------------------------------------------------------------
class Price(TypedDict):
    amount: int | None  # minor units
    currency: str
    interval: str


class SessionSubscription(TypedDict):
    id: str
    product_name: str
    price: Price
    current_period_end: str | None


class Outcome(TypedDict):
    action: Action
    executed_at: str
    details: dict[str, Any]


class SurveyResponse(TypedDict):
    reason: str
    reason_other: str | None
    feedback: str | None


class SessionExperiment(TypedDict):
    id: str  # exp_...
    arm: str  # the arm's key, e.g. "pct30" or "holdout"


class SessionFlow(TypedDict):
    id: str  # flw_...
    name: str


class Session(TypedDict):
    id: str
    status: SessionStatus
    subscription: SessionSubscription
    outcome: Outcome | None
    survey_response: SurveyResponse | None
    created_at: str
    expires_at: str
    customer_id: str
    metadata: dict[str, str]
    return_url: str | None
    livemode: bool
    source: Source
    # The experiment and arm the session was assigned to; None when none was running.
    experiment: SessionExperiment | None
    # The segment flow whose rule the subscription matched; None: the default flow.
    flow: SessionFlow | None


class SessionCreated(TypedDict):
    id: str
    token: str  # the session token: the flow API's credential
    url: str  # the hosted page: redirect the subscriber here
    expires_at: str
    status: str
    livemode: bool


class SessionList(TypedDict):
    data: list[Session]
    pagination: Pagination


class SessionContext(TypedDict, total=False):
    plan: str
    mrr: int  # minor units
    tenure_days: int


# --- Custom sessions (cancellations from the merchant's own flow) -------------------------
class _OfferShownRequired(TypedDict):
    action: Action


class OfferShown(_OfferShownRequired, total=False):
    label: str


class _CustomOutcomeRequired(TypedDict):
    action: Action


class CustomOutcome(_CustomOutcomeRequired, total=False):
    details: dict[str, Any]


class Mrr(TypedDict):
    amount: int  # minor units, per month
    currency: str


class CustomSession(TypedDict):
    id: str
    external_id: str
    customer_id: str
    subscription_id: str | None
    started_at: str
    reason: Reason | None
    reason_other: str | None
    offers_shown: list[OfferShown]
    outcome: CustomOutcome | None
    mrr: Mrr | None
    metadata: dict[str, str]
    livemode: bool
    created_at: str
    updated_at: str


class CustomSessionList(TypedDict):
    data: list[CustomSession]
    pagination: Pagination


# --- Hub sessions (the subscriber's self-service page) ------------------------------------
class HubSessionCreated(TypedDict):
    id: str  # hub_...
    token: str
    url: str  # the hub page: redirect the customer here
    expires_at: str
    livemode: bool


class HubAction(TypedDict):
    id: str  # hba_...
    type: str  # cancel, resume, reactivate, change_plan
    subscription_id: str
    price_id: str | None  # change_plan: the new price
    status: str  # a cancel is "opened": its session (session_id) has the outcome
    session_id: str | None
    outcome: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: str
    completed_at: str | None
    failed_at: str | None


class HubCancellationSession(TypedDict):
    id: str  # ses_...
    subscription_id: str
    status: str
    outcome_action: Action | None
    created_at: str
    completed_at: str | None


class HubSession(TypedDict):
    id: str
    customer_id: str
    customer_email: str | None
    return_url: str | None
    metadata: dict[str, str]
    livemode: bool
    created_at: str
    expires_at: str
    viewed_at: str | None
    last_viewed_at: str | None
    views: int
    actions: list[HubAction]
    sessions: list[HubCancellationSession]


# --- Results, workspace, health ------------------------------------------------------------
class VerifiedResult(TypedDict):
    valid: bool
    session_id: str
    workspace_id: str
    livemode: bool
    status: str
    customer_id: str
    subscription_id: str
    outcome: Outcome | None
    survey_response: SurveyResponse | None


class WorkspaceKey(TypedDict):
    prefix: str
    name: str
    expires_at: str | None


class Workspace(TypedDict):
    id: str
    name: str
    livemode: bool
    mode: Literal["test", "live"]
    scopes: list[str]
    key: WorkspaceKey


class _HealthRequired(TypedDict):
    status: Literal["healthy", "unhealthy"]
    timestamp: str
    version: str


class Health(_HealthRequired, total=False):
    components: dict[str, Any]  # with ``deep=True``
    failing: list[str]


# --- Customers' data (export and erasure) -------------------------------------------------
class CustomerExportCounts(TypedDict):
    sessions: int
    custom_sessions: int
    hub_sessions: int
    hub_actions: int  # listed under their hub session's ``actions``
    receipts: int
    saves: int
    invoice_payments: int
    events: int
    stripe_events: int
    audit_entries: int


class CustomerExport(TypedDict):
    """Everything MRRX holds about one customer: always these keys, lists oldest first.

    The rows are every stored field, as the server has them (``dict``: their fields may
    grow); a customer MRRX holds nothing about gets empty lists and zero counts."""

    object: Literal["customer_export"]
    customer_id: str
    workspace_id: str
    livemode: bool
    generated_at: str
    counts: CustomerExportCounts
    sessions: list[dict[str, Any]]
    custom_sessions: list[dict[str, Any]]
    hub_sessions: list[dict[str, Any]]  # each with its ``actions``
    receipts: list[dict[str, Any]]
    saves: list[dict[str, Any]]  # each with its 30/60/90-day ``checkpoints``
    invoice_payments: list[dict[str, Any]]
    events: list[dict[str, Any]]  # webhook events, with ``payload`` and ``deliveries``
    stripe_events: list[dict[str, Any]]  # ``payload`` as Stripe sent it
    audit_entries: list[dict[str, Any]]


class CustomerErasureCounts(TypedDict):
    """Rows changed by this erasure, per kind: all zero when erased already."""

    sessions: int
    custom_sessions: int
    hub_sessions: int
    hub_actions: int
    receipts: int
    events: int
    deliveries: int
    delivery_attempts: int
    stripe_events: int
    audit_entries: int
    idempotency_records: int


class CustomerErasure(TypedDict):
    object: Literal["customer_erasure"]
    customer_id: str
    workspace_id: str
    livemode: bool
    erased_at: str
    counts: CustomerErasureCounts
    event_id: str  # the ``customer.erased`` webhook event


# --- The flow API --------------------------------------------------------------------------
class FlowWorkspace(TypedDict):
    name: str
    brand_color: str
    logo_url: str | None


class FlowPrice(TypedDict):
    amount: int | None
    currency: str
    interval: str
    interval_count: int
    display: str


class FlowSubscription(TypedDict):
    product_name: str
    price: FlowPrice
    current_period_end: str | None
    period_display: str
    trialing: bool
    trial_end: str | None
    paused: bool


class FlowReason(TypedDict):
    code: str
    label: str


class FlowChosenReason(TypedDict):
    code: str
    label: str
    other: str | None


class FlowPauseOption(TypedDict):
    months: int
    days: int  # send as ``pause_duration_days``
    label: str
    until: str


class FlowOfferParams(TypedDict, total=False):
    pause_options: list[FlowPauseOption]
    percent_off: float
    amount_off: int
    duration_months: int
    coupon_id: str
    new_price_id: str
    new_amount: int
    currency: str
    interval: str
    product_name: str
    extension_days: int
    message: str  # contact (always), redirect (optional)
    link: str  # contact: an https:// or mailto: link
    scheduling_url: str  # contact, optional
    url: str  # redirect: the merchant's page (``redirect_url`` once taken)
    label: str  # contact, redirect, coupon discount


class FlowOffer(TypedDict):
    id: str  # send as ``offer_id``
    action: Action
    title: str
    terms: str
    ends: str
    params: FlowOfferParams


class FlowCancelOption(TypedDict):
    action: Literal["cancel"]
    title: str
    terms: str
    at_period_end: bool


class FlowIneligibleOffer(TypedDict):
    id: str
    action: str
    reason: str


class FlowChoice(TypedDict):
    action: Action
    title: str


class FlowOutcome(TypedDict):
    action: Action
    executed_at: str
    details: dict[str, Any]
    title: str
    text: str


class FlowFailure(TypedDict):
    title: str
    text: str


class Flow(TypedDict):
    id: str
    status: SessionStatus
    livemode: bool
    expires_at: str
    workspace: FlowWorkspace
    subscription: FlowSubscription
    reasons: list[FlowReason]
    reason: FlowChosenReason | None
    feedback_requested: bool
    offers: list[FlowOffer] | None
    cancel: FlowCancelOption | None
    ineligible_offers: list[FlowIneligibleOffer] | None
    choice: FlowChoice | None
    outcome: FlowOutcome | None
    failure: FlowFailure | None
    return_url: str | None
    # Once completed with a redirect offer: the merchant's page with session_id; open it.
    redirect_url: str | None


# --- Webhooks ------------------------------------------------------------------------------
EventType = Literal[
    "session.created",
    "session.completed",
    "session.expired",
    "session.failed",
    "subscription.paused",
    "subscription.discount_applied",
    "subscription.downgraded",
    "subscription.trial_extended",
    "subscription.canceled",
    # From the subscription hub (``source`` "hub", ``session_id`` the hub session's).
    "subscription.resumed",
    "subscription.reactivated",
    "subscription.plan_changed",
    # After an erasure: ``data`` is ``customer_id``, ``counts`` and ``livemode`` only.
    "customer.erased",
]


class WebhookEventData(TypedDict, total=False):
    """Session and subscription events carry every key but ``counts``; ``customer.erased``
    carries ``customer_id``, ``counts`` (``CustomerErasureCounts``) and ``livemode``."""

    session_id: str
    subscription_id: str | None
    customer_id: str | None
    action: Action | Literal["resume", "reactivate", "change_plan"] | None
    outcome: Outcome | None
    survey_response: SurveyResponse | None
    metadata: dict[str, str] | None
    livemode: bool
    source: Source | None
    status: SessionStatus | None
    end_reason: str | None
    error: Any
    experiment: SessionExperiment | None
    counts: dict[str, int]


class WebhookEvent(TypedDict):
    id: str  # evt_...: deduplicate on it, deliveries are retried
    type: str  # one of ``EventType``, or one a newer server added
    created_at: str
    data: WebhookEventData


# --- Analytics -----------------------------------------------------------------------------
AnalyticsGroupBy = Literal["reason", "offer", "arm", "day"]
AnalyticsSource = Literal["flow", "api", "custom"]


class AnalyticsMoney(TypedDict):
    currency: str  # lower-case ISO code
    amount: float  # in the currency's smallest unit (whole, but per session)


class AnalyticsRetention(TypedDict):
    """The saves of these sessions at one checkpoint (30, 60 or 90 days)."""

    day: Literal[30, 60, 90]
    saves: int
    retained: int
    churned: int
    pending: int  # not due, or not settled yet
    rate: float | None  # retained / (retained + churned)


class AnalyticsFigures(TypedDict):
    """Each key is also the key of its definition in ``Analytics["definitions"]``."""

    sessions_started: int
    completed: int
    saved: int
    canceled: int
    deflected: int
    save_rate: float | None  # saved / completed
    mrr_saved: list[AnalyticsMoney]
    retained: list[AnalyticsRetention]
    mrr_retained_90: list[AnalyticsMoney]
    mrr_retained_90_per_session: list[AnalyticsMoney]


class AnalyticsGroup(AnalyticsFigures):
    # A reason code, an offer id, "<experiment id>:<arm key>" or YYYY-MM-DD; "none" for
    # sessions without one.
    key: str
    label: str


class AnalyticsArmRetention(TypedDict):
    day: Literal[30, 60, 90]
    retained: int
    churned: int
    rate_per_session: float | None  # retained / sessions started


class AnalyticsComparison(TypedDict):
    """One figure of a variant against the holdout, with its 95% interval; ``enough_data``
    False (and no interval) below the minimum sessions per arm."""

    figure: Literal[
        "save_rate", "retained_30", "retained_60", "retained_90", "mrr_retained_90_per_session"
    ]
    currency: str | None  # for the MRR figure only
    value: float | None
    holdout_value: float | None
    difference: float | None
    ci95_low: float | None
    ci95_high: float | None
    enough_data: bool


class AnalyticsArm(TypedDict):
    key: str
    name: str
    kind: Literal["variant", "holdout"]
    sessions_started: int
    completed: int
    saved: int
    save_rate: float | None
    retained: list[AnalyticsArmRetention]
    mrr_retained_90: list[AnalyticsMoney]
    mrr_retained_90_per_session: list[AnalyticsMoney]
    difference_vs_holdout: list[AnalyticsComparison]  # empty for the holdout


class AnalyticsExperiment(TypedDict):
    """An experiment that ran in the range, over its whole run."""

    id: str
    name: str
    status: Literal["running", "stopped"]
    started_at: str | None
    stopped_at: str | None
    holdout_arm: str | None
    arms: list[AnalyticsArm]


class AnalyticsDefinition(TypedDict):
    term: str
    text: str
    url: str  # the definition on the analytics page


# "from" is a Python keyword: this one is declared the functional way.
Analytics = TypedDict(
    "Analytics",
    {
        "object": Literal["analytics"],
        "livemode": bool,
        "from": str,
        "to": str,
        "source": AnalyticsSource,
        "group_by": AnalyticsGroupBy | None,
        "totals": AnalyticsFigures,
        "groups": list[AnalyticsGroup],
        "experiments": list[AnalyticsExperiment],
        "definitions": dict[str, AnalyticsDefinition],
    },
)
