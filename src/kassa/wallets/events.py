"""The event types wallets emit (see docs/wallets.md)."""

from kassa.events.catalogue import register

register("wallet.created", "A wallet was opened for a customer and currency.")
register("wallet.updated", "A wallet's settings (alerts, auto top-up) changed.")
register("wallet.topped_up", "A top-up was paid; the wallet was credited (and any bonus).")
register("wallet.charged", "A usage charge was debited from a wallet.")
register(
    "wallet.charges_posted",
    "A batch of usage charges was debited (one summary event per wallet and batch).",
)
register("wallet.charge_reversed", "A usage charge was given back to the wallet.")
register("wallet.adjusted", "Staff corrected a wallet's balance (with a reason).")
register("wallet.low_balance", "The balance fell below one of the wallet's alert thresholds.")
register("wallet.auto_topup.succeeded", "An automatic top-up was paid.")
register("wallet.auto_topup.failed", "An automatic top-up attempt failed or needs the customer.")
register("wallet.auto_topup.disabled", "Auto top-up switched itself off after repeated failures.")
