from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from mrrx.catalogues import catalogue_update, messages_extract, translated_languages


class Command(BaseCommand):
    help = (
        "Write the subscriber's pages' strings into locale/<ll>/LC_MESSAGES/django.po for "
        "every language of LANGUAGES: new strings with an empty translation to fill in, "
        "gone ones dropped, existing translations kept. tests/test_languages.py lists "
        "what is still untranslated; `make install` compiles the catalogues."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        template = messages_extract()
        for language in translated_languages():
            path = catalogue_update(language, template)
            if options["verbosity"] > 0:
                self.stdout.write(f"{path}: {len(template)} strings")
