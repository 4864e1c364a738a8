"""Translations of the wallets app (src/kassa/wallets/locale)."""

TRANSLATIONS: dict[str, dict[str, object]] = {"de": {}, "ru": {}, "uz": {}}

# Issue 21 (what people see): money and time on pages, error pages, plurals.
TRANSLATIONS["de"].update(
    {
        'The smallest top-up is %(amount)s.': 'Die kleinste Aufladung beträgt %(amount)s.',
        'The largest top-up is %(amount)s.': 'Die größte Aufladung beträgt %(amount)s.',
        'no bonus': 'kein Bonus',
        'from %(amount)s: +%(percent)s %%': 'ab %(amount)s: +%(percent)s %%',
        'In minor units (cents, tiyin): 150000 is 1,500.00.': 'In der kleinsten Einheit (Cent, Tiyin): 150000 sind 1.500,00.',
        'A list such as [{"min_amount": 5000, "basis_points": 500}]: from 50.00 on, a bonus of 5 percent (basis points are hundredths of a percent).': 'Eine Liste wie [{"min_amount": 5000, "basis_points": 500}]: ab 50,00 ein Bonus von 5 Prozent (Basispunkte sind Hundertstel eines Prozents).',
        'in force': 'gültig',
        'top-up': 'Aufladung',
    }
)
TRANSLATIONS["ru"].update(
    {
        'The smallest top-up is %(amount)s.': 'Минимальное пополнение — %(amount)s.',
        'The largest top-up is %(amount)s.': 'Максимальное пополнение — %(amount)s.',
        'no bonus': 'без бонуса',
        'from %(amount)s: +%(percent)s %%': 'от %(amount)s: +%(percent)s %%',
        'In minor units (cents, tiyin): 150000 is 1,500.00.': 'В минимальных единицах (центы, тийины): 150000 — это 1 500,00.',
        'A list such as [{"min_amount": 5000, "basis_points": 500}]: from 50.00 on, a bonus of 5 percent (basis points are hundredths of a percent).': 'Список вида [{"min_amount": 5000, "basis_points": 500}]: начиная с 50,00 — бонус 5 процентов (базисный пункт — сотая доля процента).',
        'in force': 'действует',
        'top-up': 'пополнение',
    }
)
TRANSLATIONS["uz"].update(
    {
        'The smallest top-up is %(amount)s.': 'Eng kichik toʻldirish — %(amount)s.',
        'The largest top-up is %(amount)s.': 'Eng katta toʻldirish — %(amount)s.',
        'no bonus': 'bonussiz',
        'from %(amount)s: +%(percent)s %%': '%(amount)s dan: +%(percent)s %%',
        'In minor units (cents, tiyin): 150000 is 1,500.00.': 'Eng kichik birlikda (sent, tiyin): 150000 — bu 1 500,00.',
        'A list such as [{"min_amount": 5000, "basis_points": 500}]: from 50.00 on, a bonus of 5 percent (basis points are hundredths of a percent).': 'Masalan, [{"min_amount": 5000, "basis_points": 500}] roʻyxati: 50,00 dan boshlab 5 foiz bonus (bazis punkti — foizning yuzdan biri).',
        'in force': 'amalda',
        'top-up': 'toʻldirish',
    }
)

# Admin strings that had no translation yet (issue 21).
TRANSLATIONS["de"].update(
    {
        'History': 'Verlauf',
        'transactions': 'Buchungen',
        'adjust balance': 'Guthaben korrigieren',
        'type': 'Art',
        'balance after': 'Guthaben danach',
        'description': 'Beschreibung',
        'A reason is required.': 'Ein Grund ist erforderlich.',
        'wallet transaction': 'Guthabenbuchung',
        'wallet transactions': 'Guthabenbuchungen',
    }
)
TRANSLATIONS["ru"].update(
    {
        'History': 'История',
        'transactions': 'операции',
        'adjust balance': 'скорректировать баланс',
        'type': 'тип',
        'balance after': 'баланс после',
        'description': 'описание',
        'A reason is required.': 'Укажите причину.',
        'wallet transaction': 'операция по балансу',
        'wallet transactions': 'операции по балансу',
    }
)
TRANSLATIONS["uz"].update(
    {
        'History': 'Tarix',
        'transactions': 'operatsiyalar',
        'adjust balance': 'balansni tuzatish',
        'type': 'turi',
        'balance after': 'keyingi balans',
        'description': 'tavsif',
        'A reason is required.': 'Sababni koʻrsating.',
        'wallet transaction': 'balans operatsiyasi',
        'wallet transactions': 'balans operatsiyalari',
    }
)
