"""The flow API: a cancellation session walked from the merchant's own screens.

``/api/v1/flow``, ``/flow/survey`` and ``/flow/execute`` take the session's token instead
of an API key, and walk the hosted page's steps (``flow``) with the hosted page's words
(``presentation``). A session walked either way is the same session to the merchant: the
same fields, events, webhooks and analytics.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.cors import CorsApiView
from mrrx.api.schema import error_responses
from mrrx.formats import iso_timestamp
from offers.models import FlowConfig
from offers.selectors import REASONS, cancel_at_period_end, reasons_for

from . import flow, presentation
from .authentication import SessionTokenAuthentication, flow_session
from .deflections import DEFLECTIONS, redirect_target
from .models import Action, Session, SessionStatus
from .selectors import session_flow
from .serializers import outcome_repr
from .views import page_language, return_url_for

# The error codes every flow endpoint may answer with.
COMMON_ERRORS = ("invalid_token", "insufficient_permissions", "session_expired", "rate_limited")


# --- The representation: what the subscriber sees of their session ---------------------


def _absolute(url: str | None) -> str | None:
    if url and url.startswith("/"):
        return settings.PUBLIC_BASE_URL.rstrip("/") + url
    return url


def _workspace(session: Session) -> dict[str, Any]:
    brand = presentation.brand(session.tenant)
    return {
        "name": brand["name"],
        "brand_color": brand["color"],
        "logo_url": _absolute(brand["logo_url"]),
    }


def _subscription(session: Session) -> dict[str, Any]:
    snapshot = session.subscription_snapshot
    lines = presentation.plan_lines(session)
    trialing = snapshot.get("status") == "trialing"
    return {
        "product_name": session.product_name,
        "price": {
            "amount": session.price_amount,
            "currency": session.price_currency,
            "interval": session.price_interval,
            "interval_count": session.price_interval_count,
            "display": lines["price"],
        },
        "current_period_end": snapshot.get("current_period_end"),
        "period_display": lines["period"],
        "trialing": trialing,
        "trial_end": snapshot.get("trial_end") if trialing else None,
        "paused": bool(snapshot.get("paused")),
        # What tells it from the customer's other subscriptions.
        "description": snapshot.get("description") or None,
        "started_at": snapshot.get("start_date"),
        "display_name": presentation.subscription_name(session),
    }


def _offer_params(action: str, params: dict[str, Any], card: dict[str, Any]) -> dict[str, Any]:
    """What a UI needs to show and send back, in the words of the outcome's details."""
    if action == Action.PAUSE:
        return {
            "pause_options": [
                {
                    "months": option["months"],
                    "days": option["months"] * 30,
                    "label": option["label"],
                    "until": option["until"],
                }
                for option in card["pause_options"]
            ],
            "pause_method": params.get("method", "pause_collection"),
        }
    if action == Action.DISCOUNT:
        keys = (
            "percent_off",
            "amount_off",
            "currency",
            "duration_months",
            "duration_years",
            "coupon_id",
        )
        return {
            **{key: params[key] for key in keys if key in params},
            "discount_policy": params.get("policy", "skip_if_discounted"),
        }
    if action == Action.DOWNGRADE:
        preview = params.get("next_invoice")
        return {
            "new_price_id": params.get("price_id"),
            "new_amount": params.get("amount"),
            "currency": params.get("currency"),
            "interval": params.get("interval"),
            "product_name": params.get("product_name"),
            "next_invoice": {
                **{
                    key: preview[key]
                    for key in ("amount_due", "currency", "invoice_at", "proration_amount")
                },
                "proration_behavior": preview["proration_behavior"],
                "display": " ".join(filter(None, (card.get("charge"), card.get("note")))),
            }
            if preview
            else None,
        }
    if action == Action.CONTACT:
        keys = ("message", "link", "scheduling_url", "label")
        return {key: params[key] for key in keys if key in params}
    if action == Action.REDIRECT:
        return {key: params[key] for key in ("url", "label", "message") if key in params}
    return {"extension_days": params.get("days") or 14}


def _offers(session: Session) -> list[dict[str, Any]]:
    offers, actions = [], set()
    for offer_id, card in presentation.offer_cards_with_ids(session):
        # Choosing an action takes its first shown offer (``flow.session_select_action``):
        # a later one of the same action could not be taken, so it is not offered.
        if card["action"] in actions:
            continue
        actions.add(card["action"])
        offers.append(
            {
                "id": offer_id,
                "action": card["action"],
                "title": card["title"],
                "terms": card["cost"],
                "ends": card["ends"],
                "params": _offer_params(card["action"], card["params"], card),
            }
        )
    return offers


def _cancel_option(session: Session, config: FlowConfig) -> dict[str, Any]:
    card = presentation.cancel_card(session, config)
    return {
        "action": Action.CANCEL.value,
        "title": card["title"],
        "terms": card["detail"],
        "at_period_end": cancel_at_period_end(config=config),
    }


def _ineligible(session: Session) -> list[dict[str, Any]]:
    return [
        {"id": offer["offer_id"], "action": offer["action"], "reason": offer["reason"]}
        for offer in session.offers_considered
        if not offer.get("shown")
    ]


def flow_repr(session: Session, *, explain: bool = False) -> dict[str, Any]:
    """The session as its subscriber sees it, at whatever step it is."""
    config, segment = session_flow(session)
    choosing = session.status == SessionStatus.OFFER_SHOWN
    reason_required = flow.reason_required(session)
    # Before the survey, cancelling is open only where the reason is optional.
    may_cancel = choosing or (
        not reason_required and session.status in (SessionStatus.CREATED, SessionStatus.VIEWED)
    )
    finished = session.status in (SessionStatus.COMPLETED, SessionStatus.FAILED)
    result = presentation.result(session) if finished else None
    outcome = outcome_repr(session) if session.status == SessionStatus.COMPLETED else None
    labels = dict(REASONS)
    return {
        "id": session.id,
        "status": session.status,
        "livemode": session.livemode,
        "expires_at": iso_timestamp(session.expires_at),
        "workspace": _workspace(session),
        "subscription": _subscription(session),
        "reasons": [
            {"code": code, "label": str(label)}
            for code, label in reasons_for(config=config, flow=segment)
        ],
        "reason": {
            "code": session.survey_reason,
            "label": str(labels.get(session.survey_reason, session.survey_reason)),
            "other": session.survey_reason_other or None,
        }
        if session.survey_reason
        else None,
        "reason_required": reason_required,
        "feedback_requested": config.ask_feedback,
        "offers": _offers(session) if choosing else None,
        "cancel": _cancel_option(session, config) if may_cancel else None,
        "ineligible_offers": _ineligible(session) if choosing and explain else None,
        "choice": {
            "action": session.selected_action,
            "title": presentation.choice(session)["title"],
        }
        if session.selected_action
        else None,
        "outcome": {**outcome, **result} if outcome and result else None,
        "failure": result if session.status == SessionStatus.FAILED else None,
        "return_url": _return_url(session),
        "redirect_url": redirect_target(session),
    }


def _return_url(session: Session) -> str | None:
    # As the result page: a completed session's carries the signed result; a failed one
    # goes back plainly (there is no outcome to vouch for).
    if session.status == SessionStatus.COMPLETED:
        return return_url_for(session)
    if session.status == SessionStatus.FAILED:
        return session.return_url or None
    return None


# --- The shape, for the schema ---------------------------------------------------------


class FlowWorkspaceSerializer(serializers.Serializer):
    name = serializers.CharField()
    brand_color = serializers.CharField(help_text="`#rrggbb`")
    logo_url = serializers.URLField(allow_null=True, help_text="absolute")

    class Meta:
        ref_name = "FlowWorkspace"


class FlowPriceSerializer(serializers.Serializer):
    amount = serializers.IntegerField(allow_null=True, help_text="minor units")
    currency = serializers.CharField()
    interval = serializers.CharField()
    interval_count = serializers.IntegerField()
    display = serializers.CharField(help_text='as the hosted page shows it: "$29.00 / month"')

    class Meta:
        ref_name = "FlowPrice"


class FlowSubscriptionSerializer(serializers.Serializer):
    product_name = serializers.CharField()
    price = FlowPriceSerializer()
    current_period_end = serializers.CharField(allow_null=True)
    period_display = serializers.CharField(
        help_text='"Current period ends Feb 15, 2026" or "Free trial until ..."'
    )
    trialing = serializers.BooleanField()
    trial_end = serializers.CharField(allow_null=True)
    paused = serializers.BooleanField()
    description = serializers.CharField(
        allow_null=True, help_text="the merchant's description of the subscription in Stripe"
    )
    started_at = serializers.CharField(allow_null=True, help_text="Stripe's `start_date`")
    display_name = serializers.CharField(
        help_text="plan, price and what tells it from the customer's other subscriptions: "
        '"Pro · $29.00 / month · Team Acme, started on Jan 3, 2026"'
    )

    class Meta:
        ref_name = "FlowSubscription"


class FlowReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()

    class Meta:
        ref_name = "FlowReason"


class FlowChosenReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    other = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "FlowChosenReason"


class FlowPauseOptionSerializer(serializers.Serializer):
    months = serializers.IntegerField()
    days = serializers.IntegerField(help_text="send this as `pause_duration_days`")
    label = serializers.CharField()
    until = serializers.CharField(help_text="the day the pause would end, as text")

    class Meta:
        ref_name = "FlowPauseOption"


class FlowNextInvoiceSerializer(serializers.Serializer):
    amount_due = serializers.IntegerField(help_text="minor units")
    currency = serializers.CharField()
    invoice_at = serializers.CharField(allow_null=True, help_text="when Stripe would bill it")
    proration_amount = serializers.IntegerField(
        help_text="the proration lines together, minor units; negative: a credit"
    )
    proration_behavior = serializers.ChoiceField(
        choices=["create_prorations", "none", "always_invoice"],
        help_text="the workspace's; `always_invoice`: `amount_due` is billed at once",
    )
    display = serializers.CharField(help_text="as the hosted page says it")

    class Meta:
        ref_name = "FlowNextInvoice"


class FlowOfferParamsSerializer(serializers.Serializer):
    pause_options = FlowPauseOptionSerializer(many=True, required=False, help_text="pause")
    pause_method = serializers.ChoiceField(
        choices=["pause_collection", "subscription_pause"],
        required=False,
        help_text="pause: `pause_collection` (payments stop, the subscription stays active) "
        "or `subscription_pause` (Stripe's pause: status `paused`)",
    )
    discount_policy = serializers.ChoiceField(
        choices=["skip_if_discounted", "replace", "stack"],
        required=False,
        help_text="discount: what it does to a discount in force; `terms` gives the price",
    )
    next_invoice = FlowNextInvoiceSerializer(
        required=False,
        allow_null=True,
        help_text="downgrade: Stripe's preview of the next invoice with the change, prorated "
        "as the change will be; null when Stripe could not preview it",
    )
    percent_off = serializers.FloatField(required=False, help_text="discount")
    amount_off = serializers.IntegerField(required=False, help_text="discount, minor units")
    duration_months = serializers.IntegerField(required=False, help_text="discount")
    duration_years = serializers.IntegerField(
        required=False,
        help_text="discount on a yearly price: the whole years it runs (duration_months is "
        "12 times this)",
    )
    coupon_id = serializers.CharField(required=False, help_text="discount, a configured coupon")
    new_price_id = serializers.CharField(required=False, help_text="downgrade")
    new_amount = serializers.IntegerField(required=False, help_text="downgrade, minor units")
    currency = serializers.CharField(required=False, help_text="discount, downgrade")
    interval = serializers.CharField(required=False, help_text="downgrade")
    product_name = serializers.CharField(required=False, help_text="downgrade")
    extension_days = serializers.IntegerField(required=False, help_text="extend_trial")
    message = serializers.CharField(
        required=False, help_text="contact (always), redirect (optional): the merchant's words"
    )
    link = serializers.CharField(
        required=False, help_text="contact: an `https://` or `mailto:` link to reach the merchant"
    )
    scheduling_url = serializers.CharField(
        required=False, help_text="contact, optional: an `https://` page to book a call"
    )
    url = serializers.CharField(
        required=False,
        help_text="redirect: the merchant's page; once taken, `redirect_url` (this with "
        "`session_id`) is where to send the subscriber",
    )
    label = serializers.CharField(
        required=False, help_text="contact, redirect, coupon discount: the merchant's title"
    )

    class Meta:
        ref_name = "FlowOfferParams"


class FlowOfferSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the offer id; send it as `offer_id`")
    action = serializers.ChoiceField(choices=Action.values, help_text="never `cancel`")
    title = serializers.CharField()
    terms = serializers.CharField()
    ends = serializers.CharField()
    params = FlowOfferParamsSerializer()

    class Meta:
        ref_name = "FlowOffer"


class FlowCancelOptionSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="always `cancel`")
    title = serializers.CharField()
    terms = serializers.CharField()
    at_period_end = serializers.BooleanField()

    class Meta:
        ref_name = "FlowCancelOption"


class FlowIneligibleOfferSerializer(serializers.Serializer):
    id = serializers.CharField()
    action = serializers.CharField()
    reason = serializers.CharField(
        help_text="not_trialing, already_paused, discount_active, discount_recently_accepted, "
        "currency_mismatch, no_cheaper_target, url_not_allowed (a redirect whose URL left "
        "the allowlist) or disabled"
    )

    class Meta:
        ref_name = "FlowIneligibleOffer"


class FlowChoiceSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.values)
    title = serializers.CharField()

    class Meta:
        ref_name = "FlowChoice"


class FlowOutcomeSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.values)
    executed_at = serializers.CharField()
    details = serializers.DictField(help_text="as in the session's outcome")
    title = serializers.CharField()
    text = serializers.CharField(help_text="the hosted page's result sentence")

    class Meta:
        ref_name = "FlowOutcome"


class FlowFailureSerializer(serializers.Serializer):
    title = serializers.CharField()
    text = serializers.CharField()

    class Meta:
        ref_name = "FlowFailure"


class FlowSerializer(serializers.Serializer):
    id = serializers.CharField()
    # Text rather than an enum: a second component with the statuses' choice set makes
    # drf-spectacular's enum names collide (a warning, which fails the schema check).
    status = serializers.CharField(
        help_text="the session's status: " + ", ".join(SessionStatus.values)
    )
    livemode = serializers.BooleanField()
    expires_at = serializers.CharField()
    workspace = FlowWorkspaceSerializer()
    subscription = FlowSubscriptionSerializer()
    reasons = FlowReasonSerializer(many=True, help_text="in the configured order")
    reason = FlowChosenReasonSerializer(allow_null=True)
    reason_required = serializers.BooleanField(
        help_text="false when the workspace has strict click-to-cancel on: `execute` with "
        "`cancel` then also works before any survey answer (and records no survey)"
    )
    feedback_requested = serializers.BooleanField(
        help_text="whether the workspace asks for feedback (`feedback` on execute, kept "
        "when a reason was given)"
    )
    offers = FlowOfferSerializer(
        many=True, allow_null=True, help_text="while the status is `offer_shown`"
    )
    cancel = FlowCancelOptionSerializer(
        allow_null=True,
        help_text="with `offers`; and before the survey too when `reason_required` is false",
    )
    ineligible_offers = FlowIneligibleOfferSerializer(
        many=True, allow_null=True, help_text="with `offers`, when asked with `?explain=1`"
    )
    choice = FlowChoiceSerializer(allow_null=True)
    outcome = FlowOutcomeSerializer(allow_null=True, help_text="once `completed`")
    failure = FlowFailureSerializer(allow_null=True, help_text="once `failed`")
    return_url = serializers.CharField(
        allow_null=True,
        help_text="once finished: where to send the subscriber; when completed it carries "
        "`session_id`, `outcome` and `#result_token=` (verify with /api/v1/results/verify)",
    )
    redirect_url = serializers.CharField(
        allow_null=True,
        help_text="once completed with a `redirect` offer: the merchant's page with "
        "`session_id` added; open it instead of `return_url`",
    )

    class Meta:
        ref_name = "Flow"


_WORKSPACE_EXAMPLE = {
    "name": "Acme",
    "brand_color": "#4f46e5",
    "logo_url": "https://mrrx.example.com/media/logos/acme.png",
}
_SUBSCRIPTION_EXAMPLE = {
    "product_name": "Pro Plan",
    "price": {
        "amount": 2900,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "display": "$29.00 / month",
    },
    "current_period_end": "2026-02-15T00:00:00.000Z",
    "period_display": "Current period ends Feb 15, 2026",
    "trialing": False,
    "trial_end": None,
    "paused": False,
    "description": None,
    "started_at": "2025-03-15T10:12:00.000Z",
    "display_name": "Pro · $29.00 / month · Started on Mar 15, 2025",
}
_BASE_EXAMPLE = {
    "id": "ses_0kz3v5x2w1q0a9b8c7d6e5f4g",
    "livemode": False,
    "expires_at": "2026-01-30T14:00:00.000Z",
    "workspace": _WORKSPACE_EXAMPLE,
    "subscription": _SUBSCRIPTION_EXAMPLE,
    "reasons": [
        {"code": "too_expensive", "label": "Too expensive"},
        {"code": "not_using_enough", "label": "Not using it enough"},
        {"code": "other", "label": "Other"},
    ],
    "reason_required": False,
    "feedback_requested": True,
    "offers": None,
    "cancel": None,
    "ineligible_offers": None,
    "choice": None,
    "outcome": None,
    "failure": None,
    "return_url": None,
    "redirect_url": None,
}
SURVEY_EXAMPLE = {
    **_BASE_EXAMPLE,
    "status": "offer_shown",
    "reason": {"code": "not_using_enough", "label": "Not using it enough", "other": None},
    "offers": [
        {
            "id": "pause:ofr_0kz3v5x2w1q0a9b8c7d6e5f4h",
            "action": "pause",
            "title": "Pause your subscription",
            "terms": "No payments while paused",
            "ends": "Your plan picks up again when the pause ends",
            "params": {
                "pause_options": [
                    {"months": 1, "days": 30, "label": "1 month", "until": "Feb 28, 2026"},
                    {"months": 2, "days": 60, "label": "2 months", "until": "Mar 30, 2026"},
                ]
            },
        }
    ],
    "cancel": {
        "action": "cancel",
        "title": "No thanks, cancel my subscription",
        "terms": "You keep access until Feb 15, 2026.",
        "at_period_end": True,
    },
    "ineligible_offers": [
        {
            "id": "downgrade:ofr_0kz3v5x2w1q0a9b8c7d6e5f4i",
            "action": "downgrade",
            "reason": "no_cheaper_target",
        }
    ],
}
EXECUTING_EXAMPLE = {
    **_BASE_EXAMPLE,
    "status": "executing",
    "reason": SURVEY_EXAMPLE["reason"],
    "choice": {"action": "pause", "title": "Pause for 2 months"},
}
COMPLETED_EXAMPLE = {
    **EXECUTING_EXAMPLE,
    "status": "completed",
    "outcome": {
        "action": "pause",
        "executed_at": "2026-01-29T15:30:00.000Z",
        "details": {"pause_duration_days": 60, "resume_date": "2026-03-30T15:30:00.000Z"},
        "title": "Done",
        "text": "Your subscription is paused until Mar 30, 2026.",
    },
    "return_url": "https://yourapp.com/account?session_id=ses_0kz3v5x2w1q0a9b8c7d6e5f4g"
    "&outcome=pause#result_token=eyJhbGciOi...",
}

REDIRECTED_EXAMPLE = {
    **_BASE_EXAMPLE,
    "status": "completed",
    "reason": SURVEY_EXAMPLE["reason"],
    "choice": {"action": "redirect", "title": "See the Starter plan"},
    "outcome": {
        "action": "redirect",
        "executed_at": "2026-01-29T15:30:00.000Z",
        "details": {
            "url": "https://yourapp.com/plans/starter?session_id=ses_0kz3v5x2w1q0a9b8c7d6e5f4g",
            "label": "See the Starter plan",
            "message": None,
        },
        "title": "Your subscription stays as it is",
        "text": "Continue on the Acme website",
    },
    "return_url": "https://yourapp.com/account?session_id=ses_0kz3v5x2w1q0a9b8c7d6e5f4g"
    "&outcome=redirect#result_token=eyJhbGciOi...",
    "redirect_url": "https://yourapp.com/plans/starter?session_id=ses_0kz3v5x2w1q0a9b8c7d6e5f4g",
}


# --- The endpoints ---------------------------------------------------------------------


class _StrictInput(serializers.Serializer):
    """Refuses fields it does not know: a misspelt one would otherwise be lost silently."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {key: "is not a known field" for key in sorted(unknown)}
            )
        return attrs


class FlowApiView(CorsApiView):
    """Authenticated by the session's token; callable from the workspace's own origins
    (its return-URL allowlist); 10 calls a minute per session, reads included."""

    authentication_classes = [SessionTokenAuthentication]
    permission_classes: list = []
    rate_limit_scope = "flow.api"

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # initial() switches to the session's language; this puts the thread's own back
        # afterwards, whatever happened in between.
        with translation.override(translation.get_language()):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # From here the session is known: its words (offers, results, step errors) are
        # in the language its hosted page would show.
        translation.activate(page_language(request, flow_session(request)))

    def rate_limit_subject(self, request: Request) -> str:
        return request.auth.id

    def rate_limit_overrides(self, request: Request) -> dict:
        return request.auth.tenant.rate_limit_overrides

    def cors_allowed_origins(self, request: Request) -> Collection[str]:
        session = flow_session(request)
        return session.tenant.return_url_allowlist if session is not None else ()

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        # A finished session's answer carries a signed result: never keep it in a cache.
        response["Cache-Control"] = "no-store"
        response["Content-Language"] = translation.get_language()
        patch_vary_headers(response, ("Accept-Language",))
        return response


def _explain(request: Request) -> bool:
    return request.query_params.get("explain", "").lower() in ("1", "true", "yes")


EXPLAIN_PARAMETER = OpenApiParameter(
    "explain",
    bool,
    description="`1` also lists the offers held back for this reason, and why",
)


class FlowGetApi(FlowApiView):
    @extend_schema(
        operation_id="flow_get",
        summary="The session as its subscriber sees it",
        description=(
            "Opening it moves a `created` session to `viewed`, as opening the hosted page "
            "does. After `execute`, poll it (no faster than every 3 seconds) until the "
            "status is `completed` or `failed`."
        ),
        tags=["flow"],
        parameters=[EXPLAIN_PARAMETER],
        responses={200: FlowSerializer, **error_responses(*COMMON_ERRORS)},
        examples=[OpenApiExample("Completed", value=COMPLETED_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        session: Session = request.auth
        if session.status in (SessionStatus.EXPIRED, SessionStatus.ABANDONED):
            raise flow.session_status_error(session)
        if session.status == SessionStatus.CREATED:
            flow.session_mark_viewed(session=session)
        return Response(flow_repr(session, explain=_explain(request)))


class FlowSurveyApi(FlowApiView):
    class InputSerializer(_StrictInput):
        reason = serializers.CharField(help_text="one of the session's `reasons` codes")
        reason_other = serializers.CharField(
            required=False, allow_blank=True, help_text="required with `other`; at most 500"
        )

        class Meta:
            ref_name = "FlowSurveyRequest"

    @extend_schema(
        operation_id="flow_survey",
        summary="Say why the subscriber is leaving; get the offers for that reason",
        description=(
            "Works while the offers are not yet chosen (`created`, `viewed`, `offer_shown`): "
            "answering again changes the reason and the offers. The answer is the session "
            "with `offers` (the hosted page's cards, in the same words) and `cancel`."
        ),
        tags=["flow"],
        parameters=[EXPLAIN_PARAMETER],
        request=InputSerializer,
        responses={
            200: FlowSerializer,
            **error_responses(
                "validation_error",
                "invalid_request",
                "session_already_completed",
                *COMMON_ERRORS,
            ),
        },
        examples=[
            OpenApiExample("Survey", request_only=True, value={"reason": "not_using_enough"}),
            OpenApiExample("Offers", response_only=True, value=SURVEY_EXAMPLE),
        ],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        session: Session = request.auth
        flow.session_answer_survey(session=session, **payload.validated_data)
        return Response(flow_repr(session, explain=_explain(request)))


class FlowExecuteApi(FlowApiView):
    class InputSerializer(_StrictInput):
        action = serializers.ChoiceField(choices=Action.values)
        offer_id = serializers.CharField(
            required=False, max_length=100, help_text="the chosen offer's `id`, to be sure"
        )
        pause_duration_days = serializers.IntegerField(
            required=False, min_value=1, help_text="pause: one of the offer's `pause_options` days"
        )
        feedback = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=flow.FEEDBACK_MAX,
            help_text="kept when `feedback_requested`",
        )

        class Meta:
            ref_name = "FlowExecuteRequest"

    @extend_schema(
        operation_id="flow_execute",
        summary="Take an offer or cancel, and carry it out",
        description=(
            "Records the choice (and the feedback, when the workspace asks for it) and "
            "queues the action on Stripe, in one step: it runs once, whatever is retried. "
            "Answers 202 with the session `executing`; poll `GET /api/v1/flow` for the "
            "outcome. A `contact` or `redirect` offer changes nothing on Stripe: it answers "
            "200 with the session `completed` at once; show the contact offer's `message` "
            "and links (`outcome.details`), or send the subscriber to `redirect_url`. "
            "Other actions come after `POST /flow/survey`; `cancel` too, unless "
            "`reason_required` is false (strict click-to-cancel): then it may come first, "
            "and the session records no reason and no feedback."
        ),
        tags=["flow"],
        request=InputSerializer,
        responses={
            200: FlowSerializer,
            202: FlowSerializer,
            **error_responses(
                "validation_error",
                "invalid_request",
                "action_not_available",
                "session_already_completed",
                *COMMON_ERRORS,
            ),
        },
        examples=[
            OpenApiExample(
                "Pause",
                request_only=True,
                value={
                    "action": "pause",
                    "offer_id": "pause:ofr_0kz3v5x2w1q0a9b8c7d6e5f4h",
                    "pause_duration_days": 60,
                    "feedback": "Back after the summer",
                },
            ),
            OpenApiExample(
                "Redirect",
                request_only=True,
                value={"action": "redirect", "offer_id": "redirect:ofr_0kz3v5x2w1q0a9b8c7d6e5f4j"},
            ),
            OpenApiExample(
                "Executing", response_only=True, status_codes=["202"], value=EXECUTING_EXAMPLE
            ),
            OpenApiExample(
                "Redirected", response_only=True, status_codes=["200"], value=REDIRECTED_EXAMPLE
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        session = flow.session_choose_and_confirm(session=request.auth, **payload.validated_data)
        done = session.selected_action in DEFLECTIONS and session.status == SessionStatus.COMPLETED
        return Response(flow_repr(session), status=200 if done else 202)
