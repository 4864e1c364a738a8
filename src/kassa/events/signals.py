"""Signals the events app sends for the layers above it to act on (it may not import them)."""

from __future__ import annotations

from django.dispatch import Signal

# An endpoint the dispatcher gave up on was disabled; sent inside that transaction, so what a
# receiver writes (the staff's email, queued by kassa.notifications) commits with it.
# Arguments: organization_id, endpoint_id, url, reason ("failing" or "gone"),
# failing_since (ISO 8601 or ""), disabled_at (datetime).
endpoint_disabled = Signal()
