"""A sanction a moderator (or the strike rule) imposed on one member, and strikes."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class SanctionKind(models.TextChoices):
    WARN = "warn", _("Warning")
    QUARANTINE = "quarantine", _("Quarantine")
    BAN = "ban", _("Ban")
    INVITE_SUSPENSION = "invite_suspension", _("Invite rights suspended")


# The reason stored on a suspension the strike rule imposed. The rule's suspension is
# the one without a moderator; its reason is shown translated into the reader's
# language (``Sanction.shown_reason``), whatever language the site stored it in.
STRIKES_REASON = gettext_noop("Invitees banned for spam: too many strikes.")

# Kinds that count against the member's own record (the "no upheld sanction" rule);
# an invite suspension has a rule of its own.
RECORD_KINDS = (SanctionKind.WARN, SanctionKind.QUARANTINE, SanctionKind.BAN)


class SanctionQuerySet(models.QuerySet["Sanction"]):
    def in_force_at(self, moment: datetime) -> SanctionQuerySet:
        """Not ended by a moderator and not past its end date."""
        return self.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=moment), ended_at__isnull=True)


class Sanction(models.Model):
    """One sanction. It is in force until ``ends_at`` (if set) or until a moderator
    ends it (``ended_at``). Ending it as a mistake sets ``upheld`` to false: it then no
    longer counts against the member. A warning is over when given (``ends_at`` equals
    ``created_at``) but stays on the record. ``moderator`` is empty for a suspension
    the strike rule imposed."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sanctions",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("kind"), max_length=24, choices=SanctionKind.choices)
    reason = models.CharField(_("reason"), max_length=settings.MODERATION_REASON_MAX_LENGTH)
    for_spam = models.BooleanField(_("for spam"), default=False)
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sanctions_imposed",
        verbose_name=_("moderator"),
    )
    created_at = models.DateTimeField(_("imposed"), default=clock.now)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    upheld = models.BooleanField(_("upheld"), default=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ended by"),
    )
    end_reason = models.CharField(
        _("why it ended"), max_length=settings.MODERATION_REASON_MAX_LENGTH, blank=True
    )

    objects = SanctionQuerySet.as_manager()

    class Meta:
        verbose_name = _("sanction")
        verbose_name_plural = _("sanctions")
        indexes = [
            # The rights rules read one member's recent sanctions.
            models.Index(fields=["member", "-created_at"], name="sanction_member_recent"),
        ]

    def __str__(self) -> str:
        return gettext("%(kind)s of member #%(member)s") % {
            "kind": self.get_kind_display(), "member": self.member_id,
        }

    def in_force_at(self, moment: datetime) -> bool:
        return self.ended_at is None and (self.ends_at is None or self.ends_at > moment)

    @property
    def imposed_by_strikes(self) -> bool:
        return self.moderator_id is None and self.kind == SanctionKind.INVITE_SUSPENSION

    @property
    def shown_reason(self) -> str:
        """The reason as pages show it: a moderator's own words, or the strike rule's
        reason in the reader's language."""
        return gettext(STRIKES_REASON) if self.imposed_by_strikes else self.reason


class Strike(models.Model):
    """An inviter's strike: someone they invited was banned for spam. A strike is
    withdrawn (``withdrawn_at``) when the ban behind it is declared a mistake and no
    other upheld ban of the invitee for spam stands; it then no longer counts. Banned for spam
    again, the invitee's strike counts again from then."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="strikes",
        verbose_name=_("inviter"),
    )
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("invitee"),
    )
    reason = models.CharField(_("reason"), max_length=settings.MODERATION_REASON_MAX_LENGTH)
    created_at = models.DateTimeField(_("recorded"), default=clock.now)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)

    class Meta:
        verbose_name = _("strike")
        verbose_name_plural = _("strikes")
        constraints = [
            # One strike per banned invitee, however often the ban is repeated; its
            # index also serves "this member's strikes in the window".
            models.UniqueConstraint(fields=["member", "invitee"], name="strike_once_per_invitee"),
        ]

    def __str__(self) -> str:
        return gettext("Strike against member #%(member)s") % {"member": self.member_id}


class ReportTarget(models.TextChoices):
    WALL_POST = "wall_post", _("Wall post")
    MESSAGE = "message", _("Message")
    PROFILE = "profile", _("Profile")


class ReportReason(models.TextChoices):
    SPAM = "spam", _("Spam")
    ABUSE = "abuse", _("Abuse or harassment")
    OTHER = "other", _("Something else")


class ReportResolution(models.TextChoices):
    DISMISSED = "dismissed", _("Dismissed")
    CONTENT_REMOVED = "content_removed", _("Content removed")
    WARNED = "warned", _("Author warned")
    QUARANTINED = "quarantined", _("Author quarantined")
    BANNED = "banned", _("Author banned")


class ReportDecision(models.TextChoices):
    """What a moderator decides about a reported item (each maps to a resolution)."""

    DISMISS = "dismiss", _("Dismiss: nothing wrong")
    REMOVE = "remove", _("Remove the content")
    WARN = "warn", _("Remove the content and warn the author")
    QUARANTINE = "quarantine", _("Remove the content and quarantine the author")
    BAN = "ban", _("Remove the content and ban the author")


class Report(models.Model):
    """A member's report about a wall post, a message or a profile (one of
    ``social.models.REPORTABLE``). ``target_member`` is the author (the profile's
    owner); ``excerpt`` keeps what was reported, so moderators can judge it after the
    content is removed. Open until a moderator resolves the item's reports."""

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_filed"
    )
    target_kind = models.CharField(_("what"), max_length=16, choices=ReportTarget.choices)
    target_id = models.BigIntegerField()
    target_member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_against"
    )
    excerpt = models.CharField(max_length=settings.REPORT_EXCERPT_LENGTH, blank=True)
    reason = models.CharField(_("reason"), max_length=16, choices=ReportReason.choices)
    details = models.CharField(
        _("details"), max_length=settings.REPORT_DETAILS_MAX_LENGTH, blank=True
    )
    created_at = models.DateTimeField(default=clock.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(
        max_length=16, choices=ReportResolution.choices, blank=True
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution_reason = models.CharField(
        max_length=settings.MODERATION_REASON_MAX_LENGTH, blank=True
    )

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        constraints = [
            # One open report per reporter and item; a resolved one may be followed by
            # a new report if the item stays up.
            models.UniqueConstraint(
                fields=["reporter", "target_kind", "target_id"],
                condition=Q(resolved_at__isnull=True),
                name="report_open_once",
            ),
        ]
        indexes = [
            # The queue groups the open reports by item; resolving reads one item's.
            models.Index(
                fields=["target_kind", "target_id"], condition=Q(resolved_at__isnull=True),
                name="report_open_item",
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.id}: {self.target_kind} {self.target_id}"
