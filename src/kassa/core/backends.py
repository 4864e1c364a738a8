"""The staff sign-in backend: Django's model backend behind the lockout of
kassa.core.signin_throttle (per account and per address, with a cool-off)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from kassa.core import signin_throttle
from kassa.core.actors import client_address

# The lock that refused (or was started by) this request's attempt, for the sign-in form's
# message (kassa.core.admin_signin).
LOCK_ATTRIBUTE = "kassa_sign_in_lock"


class ThrottledModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = client_address(request)
        lock = signin_throttle.current_lock(username, address)
        if lock is not None:
            _remember(request, lock)
            # Stops authenticate() here: no other backend is asked, the password is not checked.
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
            started = signin_throttle.record_failure(username, address, agent)
            if started is not None:
                _remember(request, started)
        else:
            signin_throttle.record_success(username)
        return user

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        # ModelBackend's own async version would skip the lockout.
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )


def _remember(request: HttpRequest | None, lock: signin_throttle.Lock) -> None:
    if request is not None:
        setattr(request, LOCK_ATTRIBUTE, lock)


def lock_of(request: HttpRequest | None) -> signin_throttle.Lock | None:
    lock = getattr(request, LOCK_ATTRIBUTE, None)
    return lock if isinstance(lock, signin_throttle.Lock) else None
