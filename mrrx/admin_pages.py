"""Admin pages shared by the apps."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import ModelAdmin
from django.http import HttpRequest
from django.template.response import TemplateResponse


def secret_shown_once(
    model_admin: ModelAdmin, request: HttpRequest, *, template: str, title: str, **context: Any
) -> TemplateResponse:
    """The page that shows a new secret (API key, signing secret) the one time it exists
    in plaintext: rendered from the request that made it, never cached, stored nowhere."""
    response = TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": title,
            **context,
        },
    )
    response["Cache-Control"] = "no-store"
    return response
