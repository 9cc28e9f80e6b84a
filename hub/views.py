"""The subscription hub at ``/h/<token>``: server-rendered, works without JavaScript.

GET shows the customer's subscriptions as Stripe has them now; POST takes one action and
redirects (so a refresh never re-submits): a cancel continues into the cancellation flow
at ``/c/<token>``, which comes back here; the other actions are done by a worker while
the page shows their progress.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from billing.gateway import StripeGatewayError
from mrrx.api.errors import ApiError
from mrrx.api.ratelimit import RateLimitResult, rate_limit_hit
from mrrx.languages import language_choose
from sessions_app.models import FINAL_STATUSES, SessionStatus
from sessions_app.presentation import brand
from sessions_app.presentation import result as session_result
from sessions_app.tokens import InvalidToken, token_verify

from . import presentation
from .models import HubAction, HubActionKind, HubActionStatus, HubSession
from .selectors import (
    hub_cancellation_sessions,
    hub_subscriptions,
    plan_change_preview,
    plan_options,
)
from .services import (
    hub_action_request,
    hub_cancel_start,
    hub_session_mark_viewed,
    hub_subscription_fetch,
)
from .tokens import HUB_AUDIENCE, hub_csrf_token

logger = logging.getLogger(__name__)


class HubError(Exception):
    """A page instead of the hub. Its words are lazy, so that they are in the language of
    the page that shows them, which is known only once the visit is."""

    def __init__(
        self, status: int, title: str, message: str, hub: HubSession | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        # The visit, when known: its page is in the workspace's branding, with the way back.
        self.hub = hub


def _invalid_link() -> HubError:
    return HubError(
        401,
        gettext_lazy("This link is not valid"),
        gettext_lazy("Please go back to the site you came from and open your subscriptions again."),
    )


def _hub_for(token: str) -> HubSession:
    try:
        claims, expired = token_verify(token=token, audience=HUB_AUDIENCE), False
    except InvalidToken as exc:
        if not exc.expired or exc.claims is None:
            raise _invalid_link() from exc
        claims, expired = exc.claims, True
    hub = (
        HubSession.objects.select_related("tenant")
        .filter(id=claims.get("hid"), tenant_id=claims.get("tid"), livemode=claims.get("lm"))
        .first()
    )
    if hub is None:
        raise _invalid_link()
    if expired:
        raise HubError(
            410,
            gettext_lazy("This link has expired"),
            gettext_lazy("Please open your subscriptions again from your account page."),
            hub,
        )
    return hub


def page_language(request: HttpRequest, hub: HubSession | None) -> str:
    """The visit's language, else the browser's, else the workspace's default."""
    if hub is None:
        return language_choose(request=request)
    return language_choose(chosen=hub.locale, request=request, default=hub.tenant.default_locale)


def _frame_ancestors(hub: HubSession | None) -> str:
    origins = ["'self'"]
    if hub is not None:
        for entry in hub.tenant.return_url_allowlist:
            parts = urlsplit(entry)
            if parts.scheme in ("http", "https") and parts.netloc:
                origins.append(f"{parts.scheme}://{parts.netloc}")
    return " ".join(origins)


def _page(
    request: HttpRequest,
    template: str,
    hub: HubSession | None,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    limit: RateLimitResult | None = None,
) -> HttpResponse:
    response = render(
        request,
        template,
        {
            "hub": hub,
            "hub_csrf": hub_csrf_token(hub.id) if hub is not None else "",
            "brand": brand(hub.tenant if hub is not None else None),
            "token": request.resolver_match.kwargs.get("token") if request.resolver_match else "",
            **(context or {}),
        },
        status=status,
    )
    # The merchant may embed the hub (mrrx.js) on its own allowlisted origins only.
    response["Content-Security-Policy"] = (
        f"frame-ancestors {_frame_ancestors(hub)}; default-src 'self'; "
        "img-src 'self' data:; style-src 'self' 'unsafe-inline'"
    )
    # The token is in the path: never send it to another origin in a Referer.
    response["Referrer-Policy"] = "same-origin"
    response["Content-Language"] = translation.get_language()
    patch_vary_headers(response, ["Accept-Language"])
    if limit is not None:
        for name, value in limit.headers().items():
            response[name] = value
    return response


def _error_page(
    request: HttpRequest, error: HubError, hub: HubSession | None = None
) -> HttpResponse:
    return _page(
        request,
        "hub/error.html",
        hub or error.hub,
        {"title": error.title, "message": error.message},
        status=error.status,
    )


def _stripe_unavailable() -> HubError:
    return HubError(
        503,
        gettext_lazy("We could not load your subscriptions"),
        gettext_lazy("Please try again in a moment."),
    )


def _returned_from(request: HttpRequest, hub: HubSession) -> dict[str, str] | None:
    """What the cancellation flow the customer just came back from did, if they did."""
    session_id = request.GET.get("session_id")
    if not session_id:
        return None
    session = hub_cancellation_sessions(hub=hub).filter(id=session_id).first()
    if session is None:
        return None
    if session.status in (SessionStatus.COMPLETED, SessionStatus.FAILED):
        return session_result(session)
    if session.status in FINAL_STATUSES:
        return None
    return {"title": "", "text": _("We're still working on your last change.")}


def _subscriptions_page(
    request: HttpRequest,
    hub: HubSession,
    *,
    error: str = "",
    status: int = 200,
    limit: RateLimitResult | None = None,
) -> HttpResponse:
    try:
        items = hub_subscriptions(hub=hub)
    except StripeGatewayError as exc:
        logger.warning("hub %s: Stripe read failed: %r", hub.id, exc)
        return _error_page(request, _stripe_unavailable(), hub)
    return _page(
        request,
        "hub/subscriptions.html",
        hub,
        {
            "cards": [presentation.subscription_card(item) for item in items],
            "busy": any(item.busy for item in items),
            "returned": _returned_from(request, hub),
            "error": error,
        },
        status=status,
        limit=limit,
    )


def _forged(request: HttpRequest, hub: HubSession) -> bool:
    """CSRF without cookies, as in the cancel flow (so that it works in the merchant's
    iframe): each form carries a token bound to the visit, and a browser that names the
    page's origin must name ours."""
    sent = request.POST.get("hub_csrf", "")
    if not hmac.compare_digest(sent.encode(), hub_csrf_token(hub.id).encode()):
        return True
    origin = request.headers.get("Origin")
    return bool(origin) and origin != f"{request.scheme}://{request.get_host()}"


def _proration_date(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) <= 10 else None


def _perform(request: HttpRequest, hub: HubSession, token: str) -> HttpResponse:
    data = request.POST
    kind = data.get("action", "")
    subscription_id = data.get("subscription", "")[:255]
    if not subscription_id:
        raise ApiError(
            "validation_error", _("Choose a subscription."), details={"subscription": "required"}
        )
    if kind == HubActionKind.CANCEL:
        session_token = hub_cancel_start(hub=hub, subscription_id=subscription_id)[1]
        return HttpResponseRedirect(reverse("flow", kwargs={"token": session_token}))
    hub_action_request(
        hub=hub,
        kind=kind,
        subscription_id=subscription_id,
        price_id=data.get("price", "")[:255],
        proration_date=_proration_date(data.get("proration_date", "")),
    )
    return HttpResponseRedirect(reverse("hub", kwargs={"token": token}) + f"#sub-{subscription_id}")


@never_cache
@csrf_exempt  # replaced by _forged(): a cookie-free token that works when embedded
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def hub_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        hub = _hub_for(token)
    except HubError as error:
        with translation.override(page_language(request, error.hub)):
            return _error_page(request, error)
    with translation.override(page_language(request, hub)):
        return _hub_page(request, hub, token)


def _hub_page(request: HttpRequest, hub: HubSession, token: str) -> HttpResponse:
    if request.method == "GET":
        hub_session_mark_viewed(hub=hub)
        return _subscriptions_page(request, hub)
    limit = rate_limit_hit(
        scope="hub.action", subject=hub.id, overrides=hub.tenant.rate_limit_overrides
    )
    if not limit.allowed:
        error = HubError(
            429,
            gettext_lazy("Too many tries"),
            gettext_lazy("Please wait a minute before trying again."),
        )
        response = _error_page(request, error, hub)
        for name, value in limit.headers().items():
            response[name] = value
        return response
    if _forged(request, hub):
        return _error_page(
            request,
            HubError(
                403,
                gettext_lazy("This page has expired"),
                gettext_lazy("Please reload the page and try again."),
            ),
            hub,
        )
    try:
        response = _perform(request, hub, token)
    except ApiError as exc:
        status = 503 if exc.code == "stripe_error" else exc.status
        return _subscriptions_page(request, hub, error=exc.message, status=status, limit=limit)
    for name, value in limit.headers().items():
        response[name] = value
    return response


@never_cache
@xframe_options_exempt
@require_http_methods(["GET"])
def hub_plan(request: HttpRequest, token: str, subscription_id: str) -> HttpResponse:
    """The plans a subscription may move to; with ``?price=``, what that change costs,
    and the button that confirms it (a POST to the hub page)."""
    try:
        hub = _hub_for(token)
    except HubError as error:
        with translation.override(page_language(request, error.hub)):
            return _error_page(request, error)
    with translation.override(page_language(request, hub)):
        return _hub_plan(request, hub, subscription_id)


def _hub_plan(request: HttpRequest, hub: HubSession, subscription_id: str) -> HttpResponse:
    try:
        subscription = hub_subscription_fetch(hub=hub, subscription_id=subscription_id)
        options = plan_options(hub=hub, price_id=subscription.price_id)
    except ApiError as exc:
        if exc.code == "stripe_error":
            return _error_page(request, _stripe_unavailable(), hub)
        return _error_page(
            request, HubError(404, gettext_lazy("Subscription not found"), exc.message), hub
        )
    except StripeGatewayError:
        return _error_page(request, _stripe_unavailable(), hub)
    context: dict[str, Any] = {
        "subscription": subscription,
        "current": presentation.price_text(
            subscription.amount,
            subscription.currency,
            subscription.interval,
            subscription.interval_count,
        ),
        "options": [presentation.plan_option(o.price) for o in options],
    }
    chosen = next((o for o in options if o.price.id == request.GET.get("price")), None)
    if chosen is None:
        status = 404 if request.GET.get("price") else 200
        return _page(request, "hub/plan.html", hub, context, status=status)
    proration_date = int(time.time())
    try:
        preview = plan_change_preview(
            hub=hub, subscription=subscription, change=chosen.change, proration_date=proration_date
        )
    except StripeGatewayError:
        return _error_page(request, _stripe_unavailable(), hub)
    context.update(
        chosen=presentation.plan_option(chosen.price),
        preview=presentation.plan_preview(
            current=subscription,
            target=chosen.price,
            behavior=chosen.change.proration_behavior,
            preview=preview,
        ),
        proration_date=proration_date,
    )
    return _page(request, "hub/plan_confirm.html", hub, context)


@never_cache
@require_http_methods(["GET"])
def hub_status(request: HttpRequest, token: str) -> JsonResponse:
    """Polled by the hub page's script while an action runs: is it done yet?"""
    try:
        hub = _hub_for(token)
    except HubError as error:
        return JsonResponse({"error": error.title}, status=error.status)
    busy = HubAction.objects.filter(
        hub_session=hub, status__in=(HubActionStatus.REQUESTED, HubActionStatus.EXECUTING)
    ).exists()
    return JsonResponse({"busy": busy})
