"""Which of ``settings.LANGUAGES`` a subscriber's page speaks.

The pages a subscriber sees pick their language in one order: the one their session was
created with, else the best match for the browser's ``Accept-Language``, else the
workspace's default, else ``settings.LANGUAGE_CODE``. Codes are Django's (``pt-br``);
a regional variant of a language MRRX speaks takes that language (``fr-CA`` is ``fr``).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

# One entry of Accept-Language: a tag and an optional weight ("fr-CH", "fr;q=0.9", "*").
_ACCEPT_ENTRY = re.compile(
    r"^\s*(?P<tag>[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*)\s*"
    r"(?:;\s*q\s*=\s*(?P<q>[01](?:\.\d{0,3})?))?\s*$"
)
# Longer headers are not a browser's.
ACCEPT_LANGUAGE_MAX = 500


def language_codes() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def language_supported(code: str | None) -> str | None:
    """``code`` as the language of ``settings.LANGUAGES`` it names, or ``None``.

    Case and ``_`` do not matter (``pt_BR`` is ``pt-br``); a region MRRX has no separate
    language for takes the language (``de-AT`` is ``de``, ``pt-PT`` is ``pt-br``).
    """
    if not code or len(code) > 35:
        return None
    code = code.strip().replace("_", "-").lower()
    if not re.fullmatch(r"[a-z]{1,8}(-[a-z0-9]{1,8})*", code):
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def language_from_header(accept_language: str) -> str | None:
    """The language of ``settings.LANGUAGES`` the browser prefers most, if it accepts any."""
    if not accept_language or len(accept_language) > ACCEPT_LANGUAGE_MAX:
        return None
    weighted = []
    for position, entry in enumerate(accept_language.split(",")):
        match = _ACCEPT_ENTRY.match(entry)
        if match is None or match["tag"] == "*":
            continue
        weight = float(match["q"]) if match["q"] is not None else 1.0
        if weight > 0:
            # Equal weights keep the browser's order.
            weighted.append((-weight, position, match["tag"]))
    for _weight, _position, tag in sorted(weighted):
        if (language := language_supported(tag)) is not None:
            return language
    return None


def language_from_request(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return language_from_header(request.headers.get("Accept-Language", ""))


def language_choose(
    *, chosen: str = "", request: HttpRequest | None = None, default: str = ""
) -> str:
    """The language of a subscriber's page: ``chosen`` (the session's), else the browser's,
    else ``default`` (the workspace's), else ``settings.LANGUAGE_CODE``."""
    return (
        language_supported(chosen)
        or language_from_request(request)
        or language_supported(default)
        or settings.LANGUAGE_CODE
    )
