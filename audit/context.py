"""Who is acting, and from where, for entries written deep inside services.

Services such as ``apikey_issue`` take no request, yet their entries must name the person
in admin or the API key behind them. ``AuditRequestMiddleware`` keeps the current request
in a context variable for as long as it runs; ``actor_for_request`` reads the actor from it
when the entry is written: one that authentication bound (an API key), else the signed-in
user, else the system (tasks, commands). The caller's address is kept to its network
only: /24 for IPv4, /48 for IPv6.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

from mrrx.network import client_address

from .models import ActorKind

_request_var: ContextVar[HttpRequest | None] = ContextVar("mrrx_audit_request", default=None)

USER_AGENT_MAX = 400
IPV4_PREFIX = 24
IPV6_PREFIX = 48


@dataclass(frozen=True)
class Actor:
    kind: str
    id: str = ""
    label: str = ""

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorKind.SYSTEM, "", "system")

    @classmethod
    def user(cls, user: AbstractBaseUser) -> Actor:
        return cls(ActorKind.USER, str(user.pk), user.get_username())

    @classmethod
    def api_key(cls, *, key_id: str, prefix: str) -> Actor:
        return cls(ActorKind.API_KEY, key_id, prefix)

    @classmethod
    def subscriber(cls, *, customer_id: str) -> Actor:
        return cls(ActorKind.SUBSCRIBER, customer_id, customer_id)


class AuditRequestMiddleware:
    """Makes the request being answered available to ``audit_record``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request_var.set(request)
        try:
            return self.get_response(request)
        finally:
            # The next request on this thread is someone else's.
            _request_var.reset(token)


def current_request() -> HttpRequest | None:
    return _request_var.get()


def actor_bind(request: HttpRequest, actor: Actor) -> None:
    """Name who acts on ``request`` when it is not its signed-in user (an API key)."""
    request.audit_actor = actor  # type: ignore[attr-defined]


def actor_for_request(request: HttpRequest | None) -> Actor:
    if request is None:
        return Actor.system()
    bound = getattr(request, "audit_actor", None)
    if isinstance(bound, Actor):
        return bound
    # Only a real user: API and flow requests put principals of their own on request.user.
    user = getattr(request, "user", None)
    if isinstance(user, AbstractBaseUser) and user.is_authenticated:
        return Actor.user(user)
    return Actor.system()


def ip_network_of(address: str | None) -> str | None:
    """The network ``address`` is in (``203.0.113.0`` for ``203.0.113.7``), or None."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def client_of(request: HttpRequest | None) -> tuple[str | None, str]:
    """(network, user agent) of the caller of ``request``."""
    if request is None:
        return None, ""
    return (
        ip_network_of(client_address(request.META)),
        request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
    )
