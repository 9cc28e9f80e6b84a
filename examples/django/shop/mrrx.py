"""The shop's MRRX client, and the words for an outcome."""

from __future__ import annotations

import functools

from django.conf import settings
from mrrx_client import Mrrx
from mrrx_client.types import VerifiedResult


@functools.cache
def mrrx() -> Mrrx:
    """One client per process: it keeps its connections open between requests."""
    return Mrrx(settings.MRRX_API_KEY, base_url=settings.MRRX_BASE_URL, timeout=10)


def describe(result: VerifiedResult) -> str:
    """What happened, for the subscriber, from the verified result."""
    outcome = result["outcome"]
    if result["status"] != "completed" or outcome is None:
        return f"Nothing has changed on your subscription (the session is {result['status']})."
    details = outcome["details"]
    return {
        "pause": f"Your subscription is paused for {details.get('pause_duration_days')} days.",
        "discount": "Your discount is applied to your next invoices.",
        "downgrade": "You are now on the cheaper plan.",
        "extend_trial": "Your trial is extended.",
        "cancel": "Your subscription is canceled.",
    }.get(outcome["action"], f"Done: {outcome['action']}.")
