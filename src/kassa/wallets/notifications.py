"""The notification types wallets send (templates in templates/wallets/notifications/)."""

from kassa.notifications.services import register_type

_T = "wallets/notifications/"

register_type(
    "wallet.low_balance",
    label="Low wallet balance",
    template=f"{_T}low_balance",
    channels=("email", "sms", "push", "webhook"),
)
register_type(
    "wallet.auto_topup_confirm",
    label="Confirm an automatic top-up",
    template=f"{_T}auto_topup_confirm",
)
register_type(
    "wallet.auto_topup_disabled",
    label="Automatic top-up switched off",
    template=f"{_T}auto_topup_disabled",
)
register_type(
    "wallet.auto_topup_disabled_staff",
    label="A customer's automatic top-up switched off",
    template=f"{_T}auto_topup_disabled_staff",
    audience="staff",
)
