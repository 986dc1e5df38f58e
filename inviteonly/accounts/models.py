"""The member: one account per verified mobile number."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock

JOIN_BY_PHONE = (
    "Members join with a verified phone number, not through createsuperuser: run "
    "`inviteonly founder` and open the printed link to become a founder."
)


class MemberManager(BaseUserManager["Member"]):
    def create_user(self, *args: Any, **kwargs: Any) -> Member:
        raise ValueError(JOIN_BY_PHONE)

    def create_superuser(self, *args: Any, **kwargs: Any) -> Member:
        raise ValueError(JOIN_BY_PHONE)


class Member(AbstractBaseUser, PermissionsMixin):
    """A person on the network. The phone number is held only as ciphertext plus a
    blind index (see lib/crypto.py); ``phone_masked`` is what pages show."""

    class Role(models.TextChoices):
        MEMBER = "member", _("Member")
        MODERATOR = "moderator", _("Moderator")
        FOUNDER = "founder", _("Founder")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        QUARANTINED = "quarantined", _("Quarantined")
        BANNED = "banned", _("Banned")

    display_name = models.CharField(_("display name"), max_length=settings.DISPLAY_NAME_MAX_LENGTH)
    phone_blind_index = models.CharField(max_length=64, unique=True, editable=False)
    phone_ciphertext = models.BinaryField(editable=False)
    phone_masked = models.CharField(_("phone number"), max_length=32, editable=False)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    invited_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invitees",
        verbose_name=_("invited by"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    joined_at = models.DateTimeField(_("joined"), default=clock.now)
    # Operators who may open the Django admin.
    is_staff = models.BooleanField(_("staff"), default=False)

    objects: ClassVar[MemberManager] = MemberManager()

    USERNAME_FIELD = "phone_blind_index"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self) -> str:
        return f"{self.display_name} ({self.phone_masked})"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        # Django's login machinery refuses inactive accounts; banned members are that.
        return self.status != self.Status.BANNED

    @property
    def invites_without_limit(self) -> bool:
        return self.role in (self.Role.FOUNDER, self.Role.MODERATOR)
