"""Every translation Kassa ships is the one its pages show.

Django merges the catalogues of all installed apps and the first app listed wins, so a
message that Django's admin or auth also translates shows their wording unless Kassa gives it
a context: "History" on the German portal was the admin's "Geschichte", not Kassa's
"Verlauf". These tests read Kassa's .po files and ask Django what it serves for each entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.utils import translation

import kassa

LANGUAGES = ("de", "ru", "uz")
CATALOGUES = sorted(Path(kassa.__file__).parent.glob("*/locale/de/LC_MESSAGES/django.po"))
# Django's wording is kept on purpose where it means the same in the admin.
ACCEPTED = {("ru", "name"), ("ru", "object id"), ("uz", "object id")}


def _entries(app_dir: Path, language: str) -> list[tuple[str | None, str, str]]:
    path = app_dir / "locale" / language / "LC_MESSAGES" / "django.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = []
    for message in catalog:
        if not message.id or isinstance(message.id, tuple) or not message.string:
            continue
        found.append((message.context, message.id, str(message.string)))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_kassa_message_is_shadowed_by_another_apps_translation(language: str) -> None:
    apps = [path.parents[3] for path in CATALOGUES]
    ours: dict[tuple[str | None, str], set[str]] = {}
    for app_dir in apps:
        for context, msgid, msgstr in _entries(app_dir, language):
            ours.setdefault((context, msgid), set()).add(msgstr)
    shadowed = []
    with translation.override(language):
        for (context, msgid), strings in sorted(ours.items(), key=lambda kv: str(kv[0])):
            served = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
            # Two Kassa apps may word a shared message differently; both are Kassa's.
            if served not in strings and (language, msgid) not in ACCEPTED:
                shadowed.append(f"{msgid!r}: ours {sorted(strings)}, shown {served!r}")
    assert not shadowed, "\n".join(shadowed)


def test_the_words_django_also_translates_have_kassas_wording_in_context() -> None:
    with translation.override("de"):
        assert translation.pgettext("portal", "History") == "Verlauf"
        assert translation.pgettext("portal", "Save") == "Speichern"
        assert translation.pgettext("channel", "Email") == "E-Mail"
