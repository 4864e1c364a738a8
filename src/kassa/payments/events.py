"""The event types payments emit (see docs/events.md)."""

from kassa.events.catalogue import register

register("payment.created", "A payment was created and awaits the customer.")
register("payment.requires_action", "The customer must act (authenticate, choose another card).")
register("payment.processing", "The provider is processing the payment.")
register("payment.succeeded", "The money was received; the ledger was posted.")
register("payment.failed", "The payment failed; failure_code says why.")
register("payment.canceled", "The payment was canceled before it was paid.")
register("payment.expired", "The checkout expired unpaid.")
register("refund.created", "A refund was asked for; its amount is held.")
register("refund.succeeded", "The provider returned the money.")
register("refund.failed", "The provider refused the refund; the held amount was released.")
register("payment_method.saved", "A customer's payment method was saved for later charges.")
register("payment_method.removed", "A saved payment method was removed.")
