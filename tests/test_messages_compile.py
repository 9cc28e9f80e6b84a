"""A deployment's release step compiles the subscriber pages' translations."""

from __future__ import annotations

import gettext
import logging
import os
import shutil
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command

from mrrx.catalogues import catalogues_stale, translated_languages


@pytest.fixture
def fresh_locale(tmp_path, settings):
    """A copy of the committed catalogues with nothing compiled, as a fresh checkout has."""
    target = tmp_path / "locale"
    shutil.copytree(
        Path(settings.BASE_DIR) / "locale", target, ignore=shutil.ignore_patterns("*.mo")
    )
    settings.LOCALE_PATHS = [target]
    return target


def test_a_fresh_checkout_has_every_language_stale_and_the_command_compiles_them(fresh_locale):
    assert sorted(catalogues_stale()) == sorted(translated_languages())

    call_command("messages_compile", verbosity=0)

    assert catalogues_stale() == []
    french = gettext.GNUTranslations((fresh_locale / "fr/LC_MESSAGES/django.mo").open("rb"))
    assert french.gettext("Too expensive") == "Trop cher"


def test_an_edited_catalogue_is_stale_again(fresh_locale):
    call_command("messages_compile", verbosity=0)
    po = fresh_locale / "de/LC_MESSAGES/django.po"
    mo = po.with_suffix(".mo")
    po.touch()
    os.utime(mo, (po.stat().st_mtime - 10, po.stat().st_mtime - 10))
    assert catalogues_stale() == ["de"]


def test_a_process_starting_without_compiled_catalogues_says_so(fresh_locale, caplog):
    with caplog.at_level(logging.WARNING, logger="mrrx"):
        apps.get_app_config("mrrx").ready()
    (record,) = [r for r in caplog.records if "messages_compile" in r.getMessage()]
    for language in translated_languages():
        assert language in record.getMessage()


def test_a_process_with_compiled_catalogues_is_quiet(fresh_locale, caplog):
    call_command("messages_compile", verbosity=0)
    with caplog.at_level(logging.WARNING, logger="mrrx"):
        apps.get_app_config("mrrx").ready()
    assert not [r for r in caplog.records if "messages_compile" in r.getMessage()]
