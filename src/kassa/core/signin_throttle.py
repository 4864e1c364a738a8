"""Locking staff sign-in after repeated failures, per account and per address.

Every failed password sign-in is a `SignInFailure` row (the name tried, casefolded, and the
client's address). A sign-in is locked while either
- the name has `ACCOUNT_LIMIT` failures within the last `WINDOW` (from any address: guessing one
  account's password from many addresses is stopped too), or
- the address has `ADDRESS_LIMIT` failures within the last `WINDOW` (over any names: one address
  cannot try a few passwords on each of many accounts).
A locked attempt is refused before the password is checked and is not recorded, so hammering a
locked account does not extend its lock: it ends by itself when the oldest of the failures that
caused it is `WINDOW` old (the cool-off). At most `ACCOUNT_LIMIT` guesses per account and
`ADDRESS_LIMIT` per address fit in any `WINDOW`. A successful sign-in forgets the account's
failures; the address's stay, so that an attacker with one valid account cannot use it to reset
the count of an address that guesses others. Why these rules and not django-axes:
docs/decisions/034-staff-sign-in-lockout.md.

When a failure starts a lock it is logged (logger `kassa.signin`, WARNING, with the name, the
address, the scope and the end of the lock as fields) and written to the audit log (action
`staff.sign_in_locked`, in each organization the account is staff of; an address lock, or a
name that is no account, has no organization and is seen by superusers).

Two attempts at the same moment may both be checked before either failure is stored, so a
burst can get a few more guesses than the limit; each costs a password hash, and the lock holds
once the failures are stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from kassa.core import audit
from kassa.core.actors import Actor
from kassa.core.models import ActorType, Membership, SignInFailure

ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW = timedelta(minutes=15)
# Failures are kept this long (for a look in the database after an incident); only the last
# WINDOW counts.
KEEP = timedelta(days=1)

logger = logging.getLogger("kassa.signin")


@dataclass(frozen=True)
class Lock:
    scope: str  # "account" or "address"
    until: dt.datetime

    def minutes_left(self, now: dt.datetime | None = None) -> int:
        seconds = (self.until - (now or timezone.now())).total_seconds()
        return max(1, math.ceil(seconds / 60))


def normalize_username(username: str) -> str:
    return username.strip().casefold()[:254]


def _lock_of(failures: list[dt.datetime], limit: int, scope: str) -> Lock | None:
    if len(failures) < limit:
        return None
    # The lock lasts until the oldest of the last `limit` failures leaves the window.
    return Lock(scope, failures[limit - 1] + WINDOW)


def _locks(username: str, ip_address: str | None, now: dt.datetime) -> list[Lock]:
    recent = SignInFailure.objects.filter(created_at__gt=now - WINDOW).order_by("-created_at")
    by_name = recent.filter(username=normalize_username(username))
    locks = [
        _lock_of(
            list(by_name.values_list("created_at", flat=True)[:ACCOUNT_LIMIT]),
            ACCOUNT_LIMIT,
            "account",
        )
    ]
    if ip_address:
        by_address = recent.filter(ip_address=ip_address)
        locks.append(
            _lock_of(
                list(by_address.values_list("created_at", flat=True)[:ADDRESS_LIMIT]),
                ADDRESS_LIMIT,
                "address",
            )
        )
    return [lock for lock in locks if lock is not None]


def current_lock(username: str, ip_address: str | None) -> Lock | None:
    """The lock that refuses a sign-in as `username` from `ip_address` now (the longer one when
    both hold), or None."""
    locks = _locks(username, ip_address, timezone.now())
    return max(locks, key=lambda lock: lock.until) if locks else None


def record_failure(username: str, ip_address: str | None, user_agent: str = "") -> Lock | None:
    """Store a failed sign-in; the lock it starts, if it is the failure that reaches a limit."""
    now = timezone.now()
    name = normalize_username(username)
    with transaction.atomic():
        SignInFailure.objects.create(username=name, ip_address=ip_address, created_at=now)
        locks = _locks(name, ip_address, now)
        for lock in locks:
            _report(lock, name, ip_address, user_agent)
    return max(locks, key=lambda lock: lock.until) if locks else None


def record_success(username: str) -> None:
    """The account's password was right: forget its failures (not its address's)."""
    name = normalize_username(username)
    if SignInFailure.objects.filter(username=name).exists():
        with transaction.atomic():
            SignInFailure.objects.filter(username=name).delete()


def prune(older_than: timedelta = KEEP) -> int:
    deleted, _ = SignInFailure.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


def _report(lock: Lock, name: str, ip_address: str | None, user_agent: str) -> None:
    account = lock.scope == "account"
    limit = ACCOUNT_LIMIT if account else ADDRESS_LIMIT
    # An address lock names no account: the last name tried from it may be anything a person
    # typed into the field (a password, even), and it is not what is locked.
    username = name if account else None
    logger.warning(
        "staff sign-in locked",
        extra={
            "username": username,
            "ip_address": ip_address,
            "scope": lock.scope,
            "failures": limit,
            "locked_until": lock.until.isoformat(),
        },
    )
    user = get_user_model().objects.filter(username__iexact=name).first() if account else None
    organizations: list[str | None] = []
    if user is not None:
        organizations = list(
            Membership.objects.filter(user=user)
            .order_by("organization_id")
            .values_list("organization_id", flat=True)
        )
    actor = Actor(
        type=ActorType.SYSTEM,
        label="admin sign-in",
        ip_address=ip_address,
        user_agent=user_agent[:300],
    )
    for organization_id in organizations or [None]:
        audit.record(
            actor=actor,
            action="staff.sign_in_locked",
            organization_id=organization_id,
            object_type="user" if user is not None else "",
            object_id=str(user.pk) if user is not None else "",
            reason=f"{limit} failed sign-ins within {int(WINDOW.total_seconds() // 60)} minutes",
            after={
                "username": username,
                "scope": lock.scope,
                "failures": limit,
                "locked_until": lock.until.isoformat(),
            },
        )
