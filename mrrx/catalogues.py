"""The message catalogues of what subscribers read, and the strings they must hold.

Only the subscriber's side is translated: the cancel flow, the hub, receipts, their error
pages and the flow API's words. ``TEMPLATE_SOURCES`` and ``PYTHON_SOURCES`` name those
files; ``messages_extract`` reads their strings as ``makemessages`` would (Django's
``templatize`` for templates), but with Babel's extractor, so that neither writing the
catalogues (``manage.py messages_update``) nor checking them (``tests/test_languages.py``)
needs GNU gettext. ``make install`` compiles the ``.po`` files to the ``.mo`` files Django
reads.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po
from django.conf import settings
from django.utils.translation import templatize, to_locale

DOMAIN = "django"
TEMPLATE_SOURCES = ("templates/flow/*.html", "templates/hub/*.html", "templates/receipts/*")
PYTHON_SOURCES = (
    "sessions_app/presentation.py",
    "sessions_app/receipts.py",
    "sessions_app/flow.py",
    "sessions_app/views.py",
    "hub/presentation.py",
    "hub/views.py",
    "hub/services.py",
    # The survey's reasons.
    "offers/models.py",
)
# Django's translation functions, as Babel names a keyword's arguments.
KEYWORDS: dict[str, tuple | None] = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}
COMMENT_TAGS = ("Translators:",)
HEADER_COMMENT = """\
# What MRRX shows subscribers: the cancel flow, the hub, receipts and their error pages.
# `manage.py messages_update` brings in new strings (mrrx/catalogues.py says from where);
# `make install` compiles this file."""
# What a translation must carry over exactly: %(name)s and %s style, and {name} style.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]|\{[^{}]*\}")


def translated_languages() -> list[str]:
    """Every language of ``settings.LANGUAGES`` but the one the sources are written in."""
    return [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def catalogue_path(language: str) -> Path:
    return Path(settings.LOCALE_PATHS[0]) / to_locale(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


def _sources() -> Iterator[tuple[str, str, bytes]]:
    """(path, extraction method, contents) of each source file, in a stable order."""
    base = Path(settings.BASE_DIR)
    for pattern in TEMPLATE_SOURCES:
        for path in sorted(base.glob(pattern)):
            text = templatize(path.read_text(encoding="utf-8"), origin=str(path))
            yield path.relative_to(base).as_posix(), "python", text.encode()
    for name in PYTHON_SOURCES:
        yield name, "python", (base / name).read_bytes()


def messages_extract() -> Catalog:
    """Every translatable string of the subscriber's pages, as a template catalogue."""
    catalog = Catalog(domain=DOMAIN, project="MRRX", fuzzy=False)
    for path, method, contents in _sources():
        found = extract(method, io.BytesIO(contents), keywords=KEYWORDS, comment_tags=COMMENT_TAGS)
        for lineno, message, comments, context in found:
            catalog.add(
                message, locations=[(path, lineno)], auto_comments=comments, context=context
            )
    return catalog


def catalogue_read(language: str) -> Catalog | None:
    path = catalogue_path(language)
    if not path.exists():
        return None
    with path.open("rb") as file:
        return read_po(file, locale=to_locale(language), domain=DOMAIN)


def catalogue_update(language: str, template: Catalog) -> Path:
    """Bring ``language``'s catalogue in step with ``template``: new strings appear with an
    empty translation, gone ones are dropped, translations made are kept."""
    now = datetime.now(UTC)
    catalog = catalogue_read(language) or Catalog(
        locale=to_locale(language),
        domain=DOMAIN,
        header_comment=HEADER_COMMENT,
        project="MRRX",
        version="1",
        msgid_bugs_address="MRRX",
        last_translator="MRRX",
        language_team="MRRX",
        creation_date=now,
        revision_date=now,
    )
    # No guessing from similar strings: a guess is fuzzy, and fuzzy is not translated.
    catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
    catalog.fuzzy = False
    path = catalogue_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        # No line numbers: moving code around does not touch the catalogues.
        write_po(file, catalog, ignore_obsolete=True, include_lineno=False, width=100)
    return path


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def message_problems(message: Message, source: Message) -> list[str]:
    """What is wrong with a catalogue's ``message`` for the extracted ``source``."""
    problems = []
    ids = source.id if isinstance(source.id, tuple) else (source.id,)
    if ids != (message.id if isinstance(message.id, tuple) else (message.id,)):
        return ["its plural form differs from the source's"]
    if message.fuzzy:
        problems.append("marked fuzzy")
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    if not all(strings):
        return [*problems, "not translated"]
    for index, string in enumerate(strings):
        # The first form follows the singular; every other one the plural.
        expected = ids[0] if index == 0 else ids[-1]
        if placeholders(string) != placeholders(expected):
            problems.append(
                f"placeholders {placeholders(string)} instead of {placeholders(expected)}"
            )
    return problems


def compiled_path(language: str) -> Path:
    return catalogue_path(language).with_suffix(".mo")


def catalogues_stale() -> list[str]:
    """The languages whose compiled catalogue is missing or older than its ``.po`` file."""
    stale = []
    for language in translated_languages():
        source, compiled = catalogue_path(language), compiled_path(language)
        if source.exists() and (
            not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime
        ):
            stale.append(language)
    return stale


def catalogues_compile(languages: list[str] | None = None) -> list[Path]:
    """Compile each language's ``.po`` to the ``.mo`` file Django reads (written to a
    temporary file first, then moved into place, so a running process never reads half of
    one). Returns the files written."""
    from babel.messages.mofile import write_mo

    written = []
    for language in translated_languages() if languages is None else languages:
        source = catalogue_path(language)
        if not source.exists():
            continue
        with source.open("rb") as handle:
            catalogue = read_po(handle, locale=to_locale(language))
        target = compiled_path(language)
        partial = target.with_suffix(".mo.tmp")
        with partial.open("wb") as handle:
            write_mo(handle, catalogue)
        partial.replace(target)
        written.append(target)
    return written
