"""Login by mobile number and password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest

from inviteonly.accounts.models import Member
from inviteonly.lib import crypto
from inviteonly.lib.phone_numbers import PhoneNumber


class PhonePasswordBackend(BaseBackend):
    """Authenticates ``phone`` (an already normalised PhoneNumber) + ``password``.

    For a number without an account, a password is hashed all the same, so the answer
    takes as long as for a registered number.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        phone: PhoneNumber | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Member | None:
        if phone is None or password is None:
            return None
        member = Member.objects.filter(phone_blind_index=crypto.blind_index(phone.e164)).first()
        if member is None:
            make_password(password)
            return None
        if member.check_password(password) and member.is_active:
            return member
        return None

    def get_user(self, user_id: int) -> Member | None:
        member = Member.objects.filter(id=user_id).first()
        return member if member is not None and member.is_active else None
