"""Translations of the ledger's admin (src/kassa/ledger/locale)."""

_KEYS = [
    "amount", "balance", "balance after", "currency", "derived balance", "description",
    "idempotency key", "kind", "ledger account", "ledger accounts", "ledger entries",
    "ledger entry", "ledger transaction", "ledger transactions", "lowest allowed balance",
    "metadata", "name", "owner", "reference", "reverses", "time",
]
_DE = [
    "Betrag", "Saldo", "Saldo danach", "Währung", "abgeleiteter Saldo", "Beschreibung",
    "Idempotenzschlüssel", "Art", "Buchungskonto", "Buchungskonten", "Buchungszeilen",
    "Buchungszeile", "Buchungssatz", "Buchungssätze", "niedrigster zulässiger Saldo",
    "Metadaten", "Name", "Inhaber", "Referenz", "storniert", "Zeit",
]
_RU = [
    "сумма", "остаток", "остаток после", "валюта", "вычисляемый остаток", "описание",
    "ключ идемпотентности", "вид", "счёт учёта", "счета учёта", "проводки",
    "проводка", "операция", "операции", "минимально допустимый остаток",
    "метаданные", "название", "владелец", "ссылка", "сторнирует", "время",
]
_UZ = [
    "summa", "qoldiq", "keyingi qoldiq", "valyuta", "hisoblangan qoldiq", "tavsif",
    "idempotentlik kaliti", "turi", "hisob", "hisoblar", "yozuvlar",
    "yozuv", "operatsiya", "operatsiyalar", "eng past ruxsat etilgan qoldiq",
    "metamaʼlumotlar", "nomi", "egasi", "referens", "bekor qiladi", "vaqt",
]
TRANSLATIONS = {
    "de": dict(zip(_KEYS, _DE, strict=True)),
    "ru": dict(zip(_KEYS, _RU, strict=True)),
    "uz": dict(zip(_KEYS, _UZ, strict=True)),
}
