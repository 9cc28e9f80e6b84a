"""Inbound Stripe webhooks and the end of the Stripe Connect OAuth dance."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from mrrx.api.errors import envelope

from .services import OAuthStateInvalid, StripeConnectError, stripe_event_receive
from .services import stripe_connection_connect_oauth as connect_oauth


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, connection_id: str | None = None) -> JsonResponse:
    """Stripe's POST of an event: stored first, answered 200 once stored (400 if forged)."""
    result = stripe_event_receive(
        payload=request.body,
        signature_header=request.headers.get("Stripe-Signature"),
        connection_id=connection_id,
    )
    if not result.accepted:
        message = result.problem or "The Stripe-Signature header does not verify."
        body = envelope("invalid_request", message)
        return JsonResponse(body, status=400)
    return JsonResponse(
        {"received": True, "duplicate": result.duplicate, "status": result.event.status}
    )


def _problem(request: HttpRequest, title: str, message: str) -> HttpResponse:
    context = {"title": title, "message": message, "restart_url": _connections_url()}
    return render(request, "billing/oauth_problem.html", context, status=400)


def _connections_url() -> str:
    return reverse("admin:billing_stripeconnection_changelist")


@require_GET
@staff_member_required
def stripe_oauth_callback(request: HttpRequest) -> HttpResponse:
    """Where Stripe sends the merchant back after "Connect Stripe"."""
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    if request.GET.get("error"):
        # The merchant declined (access_denied) or Stripe refused; nothing to store.
        description = request.GET.get("error_description") or request.GET["error"]
        return _problem(request, "Stripe was not connected", description)
    if not state or not code:
        return _problem(
            request, "Stripe was not connected", "The link back from Stripe is incomplete."
        )
    try:
        connection = connect_oauth(state=state, code=code, user=request.user)
    except OAuthStateInvalid as exc:
        return _problem(request, "This Connect link cannot be used", str(exc))
    except StripeConnectError as exc:
        return _problem(request, "Stripe was not connected", str(exc))
    messages.success(
        request,
        f"Connected Stripe account {connection.account_id} ({connection.mode} mode) "
        f"to {connection.tenant}.",
    )
    return HttpResponseRedirect(
        reverse("admin:billing_stripeconnection_change", args=[connection.pk])
    )
