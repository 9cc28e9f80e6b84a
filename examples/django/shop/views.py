"""The three places a Django app meets MRRX: the cancel button, the return from the
hosted flow, and the webhook receiver."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from mrrx_client import (
    InvalidTokenError,
    MrrxError,
    SessionAlreadyExistsError,
    ValidationError,
    WebhookVerificationError,
    verify_webhook,
)

from .models import WebhookEvent
from .mrrx import describe, mrrx

logger = logging.getLogger(__name__)


@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/account.html")


@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    """The cancel button: a session for the signed-in subscriber, then off to MRRX's page.
    The return URL must be on the workspace's allowlist (admin: Workspace, return URLs)."""
    try:
        session = mrrx().create_session(
            customer_id=settings.DEMO_CUSTOMER_ID,
            subscription_id=settings.DEMO_SUBSCRIPTION_ID or None,
            return_url=request.build_absolute_uri(reverse("return")),
            metadata={"started_from": "account page"},
        )
    except SessionAlreadyExistsError:
        message = "A cancellation is already open for your subscription. Try again later."
        return render(request, "shop/account.html", {"message": message}, status=409)
    except MrrxError as error:
        # str(error) names MRRX's request id, which its logs carry.
        logger.warning("Could not start the cancel flow: %s", error)
        message = "We could not start the cancellation. Please try again."
        return render(request, "shop/account.html", {"message": message}, status=502)
    return redirect(session["url"])


@require_http_methods(["GET", "POST"])
def cancel_return(request: HttpRequest) -> HttpResponse:
    """Back from the hosted flow. The signed result is in the URL's fragment
    (``#result_token=...``), which browsers keep to themselves: the GET page posts it
    here, and only what MRRX verifies is shown."""
    if request.method == "GET":
        return render(request, "shop/return.html")
    try:
        result = mrrx().verify_result(request.POST.get("result_token", ""))
    except (InvalidTokenError, ValidationError):  # forged, tampered, expired or missing
        context = {"error": "This result could not be verified."}
        return render(request, "shop/outcome.html", context, status=400)
    except MrrxError as error:
        logger.warning("Could not verify a result: %s", error)
        context = {"error": "We could not check the result just now. Please reload."}
        return render(request, "shop/outcome.html", context, status=502)
    if result["customer_id"] != settings.DEMO_CUSTOMER_ID:
        # A genuine result, but for someone else's session.
        context = {"error": "This result is not for your subscription."}
        return render(request, "shop/outcome.html", context, status=403)
    return render(request, "shop/outcome.html", {"result": result, "text": describe(result)})


@csrf_exempt  # MRRX signs the request instead; there is no browser and no cookie
@require_POST
def mrrx_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = verify_webhook(request.body, request.headers, settings.MRRX_WEBHOOK_SECRET)
    except WebhookVerificationError as error:
        logger.warning("Refused an MRRX webhook: %s", error)
        return JsonResponse({"error": "invalid signature"}, status=400)
    WebhookEvent.objects.get_or_create(
        event_id=event["id"],
        defaults={
            "type": event["type"],
            "session_id": event["data"].get("session_id") or "",
            "payload": event,
        },
    )
    # Answer quickly; do slow work (emails, provisioning) in your own background jobs.
    return JsonResponse({"received": True})
