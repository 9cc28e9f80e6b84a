"""The product's URLs plus one view that logs, for the logging tests."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.urls import path

from mrrx.urls import urlpatterns as product_urls

logger = logging.getLogger("mrrx.test")


def noisy(request: HttpRequest, session_id: str) -> HttpResponse:
    logger.warning(
        "calling Stripe with %s for %s; headers %s",
        "sk_live_51Habcdefghijklmnop",
        request.headers.get("X-Api-Key"),
        {"HTTP_AUTHORIZATION": request.META.get("HTTP_AUTHORIZATION", "")},
    )
    try:
        raise RuntimeError("signing with whsec_c2VjcmV0c2VjcmV0 failed")
    except RuntimeError:
        logger.exception("webhook trouble")
    return HttpResponse("ok")


urlpatterns = [path("logtest/<str:session_id>", noisy), *product_urls]
