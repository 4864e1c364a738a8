# ruff: noqa: E501, RUF001
# The customer model's field names, moved with it from core (scripts/translations/core.py).
TRANSLATIONS = {
    "de": {
        "email": "E-Mail",
        "name": "Name",
        "phone": "Telefon",
        "locale": "Sprache",
        "metadata": "Metadaten",
        "created": "erstellt",
        "customer": "Kunde",
        "customers": "Kunden",
    },
    "ru": {
        "email": "email",
        "name": "название",
        "phone": "телефон",
        "locale": "язык",
        "metadata": "метаданные",
        "created": "создан",
        "customer": "клиент",
        "customers": "клиенты",
    },
    "uz": {
        "email": "email",
        "name": "nomi",
        "phone": "telefon",
        "locale": "til",
        "metadata": "metamaʼlumotlar",
        "created": "yaratilgan",
        "customer": "mijoz",
        "customers": "mijozlar",
    },
}
