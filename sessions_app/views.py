"""The hosted cancellation flow at ``/c/<token>``: server-rendered, works without JavaScript.

GET shows the step the session is at; POST performs one step and redirects back (so a
refresh never re-submits). Which step is shown follows only from the session's status.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

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

from mrrx.api.errors import ApiError
from mrrx.api.ratelimit import RateLimitResult, rate_limit_hit
from mrrx.languages import language_choose
from mrrx.logging import bind_session_id
from offers.selectors import reasons_for

from . import flow, presentation
from .deflections import redirect_target
from .models import FINAL_STATUSES, Action, Session, SessionStatus
from .receipts import receipt_notice
from .selectors import session_flow
from .tokens import SESSION_AUDIENCE, InvalidToken, flow_csrf_token, result_token, token_verify

logger = logging.getLogger(__name__)


class FlowError(Exception):
    """A page instead of the flow. Its words are lazy, so that they are in the language of
    the page that shows them, which is known only once the session is (``session``)."""

    def __init__(
        self, status: int, title: str, message: str, session: Session | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        self.session = session


def _session_for(token: str) -> Session:
    try:
        claims = token_verify(token=token, audience=SESSION_AUDIENCE)
    except InvalidToken as exc:
        if not exc.expired or exc.claims is None:
            raise FlowError(
                401,
                gettext_lazy("This link is not valid"),
                gettext_lazy("Please go back to the site you came from and start again."),
            ) from exc
        claims, expired = exc.claims, True
    else:
        expired = False
    session = (
        Session.objects.select_related("tenant")
        .filter(id=claims.get("sid"), tenant_id=claims.get("tid"), livemode=claims.get("lm"))
        .first()
    )
    if session is None:
        raise FlowError(
            401,
            gettext_lazy("This link is not valid"),
            gettext_lazy("Please go back to the site you came from and start again."),
        )
    bind_session_id(session.id)  # on this request's log lines
    if expired and session.status not in (SessionStatus.COMPLETED, SessionStatus.FAILED):
        raise FlowError(
            410,
            gettext_lazy("This link has expired"),
            gettext_lazy(
                "Cancellation links last 24 hours. Please start again from your account page."
            ),
            session,
        )
    return session


def page_language(request: HttpRequest, session: Session | None) -> str:
    """The session's language, else the browser's, else the workspace's default."""
    if session is None:
        return language_choose(request=request)
    return language_choose(
        chosen=session.locale, request=request, default=session.tenant.default_locale
    )


def _frame_ancestors(session: Session | None) -> str:
    origins = ["'self'"]
    if session is not None:
        for entry in session.tenant.return_url_allowlist:
            parts = urlsplit(entry)
            if parts.scheme in ("http", "https") and parts.netloc:
                origins.append(f"{parts.scheme}://{parts.netloc}")
    return " ".join(origins)


def _page(
    request: HttpRequest,
    template: str,
    session: Session | None,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    limit: RateLimitResult | None = None,
) -> HttpResponse:
    tenant = session.tenant if session is not None else None
    response = render(
        request,
        template,
        {
            "session": session,
            "flow_csrf": flow_csrf_token(session.id) if session is not None else "",
            "brand": presentation.brand(tenant),
            "token": request.resolver_match.kwargs.get("token") if request.resolver_match else "",
            **(context or {}),
        },
        status=status,
    )
    # The merchant may embed the flow (mrrx.js) on its own allowlisted origins only.
    response["Content-Security-Policy"] = (
        f"frame-ancestors {_frame_ancestors(session)}; default-src 'self'; "
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
    request: HttpRequest, error: FlowError, session: Session | None = None
) -> HttpResponse:
    return _page(
        request,
        "flow/error.html",
        session,
        {"title": error.title, "message": error.message},
        status=error.status,
    )


def return_url_for(session: Session) -> str | None:
    """Where a finished session sends the subscriber, carrying a signed result."""
    if not session.return_url:
        return None
    query = urlencode({"session_id": session.id, "outcome": session.outcome_action or "none"})
    separator = "&" if urlsplit(session.return_url).query else "?"
    base = session.return_url.split("#", 1)[0]
    return f"{base}{separator}{query}#result_token={result_token(session=session)}"


def _render_step(request: HttpRequest, session: Session, token: str, **extra: Any) -> HttpResponse:
    status = session.status
    if status == SessionStatus.CREATED:
        flow.session_mark_viewed(session=session)
        status = session.status
    config, segment = session_flow(session)
    base = {"plan": presentation.plan(session), **extra}
    if status == SessionStatus.VIEWED:
        return _page(
            request,
            "flow/reason.html",
            session,
            {
                **base,
                "reasons": reasons_for(config=config, flow=segment),
                "reason_optional": not flow.reason_required(session),
            },
        )
    if status == SessionStatus.OFFER_SHOWN:
        return _page(
            request,
            "flow/offers.html",
            session,
            {
                **base,
                "offers": presentation.offer_cards(session),
                "cancel": presentation.cancel_card(session, config),
                "reasons": reasons_for(config=config, flow=segment),
            },
        )
    if status in (SessionStatus.ACTION_SELECTED, SessionStatus.SURVEY_COMPLETED):
        # Feedback still owed is an optional box on the confirm page, not a page of its
        # own: cancelling stays within three actions whatever the workspace asks.
        return _page(
            request,
            "flow/confirm.html",
            session,
            {
                **base,
                "choice": presentation.choice(session),
                "ask_feedback": status == SessionStatus.ACTION_SELECTED,
            },
        )
    if status == SessionStatus.EXECUTING:
        return _page(request, "flow/progress.html", session, base)
    if status in (SessionStatus.COMPLETED, SessionStatus.FAILED):
        return _page(
            request,
            "flow/result.html",
            session,
            {
                **base,
                "result": presentation.result(session),
                # A deflection's message and links stay on screen until the subscriber
                # moves on: no timed return to the merchant.
                "stay": session.outcome_action in (Action.CONTACT, Action.REDIRECT),
                "links": presentation.result_links(session),
                "return_url": return_url_for(session)
                if status == SessionStatus.COMPLETED
                else None,
                "failure_return_url": session.return_url or None,
                "receipt": receipt_notice(session=session)
                if status == SessionStatus.COMPLETED
                else None,
            },
        )
    raise FlowError(
        410,
        gettext_lazy("This link has expired"),
        gettext_lazy(
            "Cancellation links last 24 hours. Please start again from your account page."
        ),
    )


def _forged(request: HttpRequest, session: Session) -> bool:
    """CSRF for the flow's forms, without cookies so that it also works in the merchant's
    iframe (where browsers withhold third-party cookies): each form carries a token bound
    to the session, and a browser that names the page's origin must name ours."""
    sent = request.POST.get("flow_csrf", "")
    if not hmac.compare_digest(sent.encode(), flow_csrf_token(session.id).encode()):
        return True
    origin = request.headers.get("Origin")
    return bool(origin) and origin != f"{request.scheme}://{request.get_host()}"


def _perform(request: HttpRequest, session: Session) -> None:
    step = request.POST.get("step", "")
    data = request.POST
    if step == "reason":
        flow.session_give_reason(
            session=session,
            reason=data.get("reason", ""),
            reason_other=data.get("reason_other", ""),
        )
    elif step == "offer":
        months = data.get("pause_months")
        flow.session_select_action(
            session=session,
            action=data.get("action", ""),
            pause_months=int(months) if months and months.isdigit() else None,
        )
    elif step == "cancel":
        flow.session_choose_cancel(session=session)
    elif step == "feedback":  # a feedback page opened before feedback joined the confirm page
        feedback = "" if data.get("skip") else data.get("feedback", "")
        flow.session_give_feedback(session=session, feedback=feedback)
    elif step == "confirm":
        flow.session_confirm_choice(
            session=session,
            action=data.get("action") or None,
            feedback=data.get("feedback", ""),
        )
    else:
        raise ApiError("validation_error", _("Unknown step."), details={"step": step})


@never_cache
@csrf_exempt  # replaced by _forged(): a cookie-free token that works when embedded
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def hosted_flow(request: HttpRequest, token: str) -> HttpResponse:
    try:
        session = _session_for(token)
    except FlowError as error:
        with translation.override(page_language(request, error.session)):
            return _error_page(request, error)
    with translation.override(page_language(request, session)):
        return _hosted_flow(request, session, token)


def _hosted_flow(request: HttpRequest, session: Session, token: str) -> HttpResponse:
    try:
        if request.method == "GET":
            return _render_step(request, session, token)
        limit = rate_limit_hit(
            scope="flow.action", subject=session.id, overrides=session.tenant.rate_limit_overrides
        )
        if not limit.allowed:
            error = FlowError(
                429,
                gettext_lazy("Too many tries"),
                gettext_lazy("Please wait a minute before trying again."),
            )
            response = _error_page(request, error, session)
            for name, value in limit.headers().items():
                response[name] = value
            return response
        if _forged(request, session):
            error = FlowError(
                403,
                gettext_lazy("This page has expired"),
                gettext_lazy("Please reload the page and try again."),
            )
            return _error_page(request, error, session)
        if session.status not in FINAL_STATUSES:
            try:
                _perform(request, session)
            except ApiError as exc:
                session.refresh_from_db()
                response = _render_step(
                    request, session, token, errors=exc.details, error=exc.message
                )
                response.status_code = 400
                for name, value in limit.headers().items():
                    response[name] = value
                return response
        # A redirect offer taken (now or by an earlier submit) sends the subscriber to the
        # merchant's page; every other step comes back to the flow's own page.
        target = redirect_target(session) or reverse("flow", kwargs={"token": token})
        response = HttpResponseRedirect(target)
        for name, value in limit.headers().items():
            response[name] = value
        return response
    except FlowError as error:
        return _error_page(request, error, session)


@never_cache
@require_http_methods(["GET"])
def hosted_flow_status(request: HttpRequest, token: str) -> JsonResponse:
    """Polled by the progress page's script: is the action done yet?"""
    try:
        session = _session_for(token)
    except FlowError as error:
        return JsonResponse({"error": error.title}, status=error.status)
    return JsonResponse({"status": session.status, "done": session.status in FINAL_STATUSES})
