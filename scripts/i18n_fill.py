"""Fill an app's .po files from a translations table and compile them.

    .venv/bin/python scripts/i18n_fill.py src/kassa/payments/locale scripts/translations/payments.py

The table module defines TRANSLATIONS = {"de": {msgid: msgstr}, "ru": {...}, "uz": {...}}.
Messages missing from the table keep their current translation; the script lists them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po


def main(locale_dir: str, table_path: str) -> int:
    spec = importlib.util.spec_from_file_location("table", table_path)
    assert spec and spec.loader
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    missing_total = 0
    for lang, translations in table.TRANSLATIONS.items():
        po_path = Path(locale_dir) / lang / "LC_MESSAGES" / "django.po"
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        missing = []
        for message in catalog:
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in translations:
                message.string = translations[key]
                message.flags.discard("fuzzy")
            elif not message.string:
                missing.append(key)
        catalog.fuzzy = False
        with po_path.open("wb") as handle:
            write_po(handle, catalog, width=100)
        with po_path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog)
        for key in missing:
            print(f"{lang}: untranslated: {key!r}")
        missing_total += len(missing)
    return 1 if missing_total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
