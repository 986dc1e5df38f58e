"""Who may invite, and why: the published rule set, evaluated per member.

Each rule answers passed / failed (or waived, or inactive), a translated reason and,
where time alone fixes a failure, the moment it will pass. The invite page shows the
answer as a checklist, the API (GET /api/me/invite-rights) returns the same structure,
and ``do_invite_by_phone`` refuses with the first failed rule's reason.

The rules, in the order members see them:

``standing``           the account is active (not quarantined, not banned);
``suspension``         no invite suspension in force (by a moderator, or by strikes);
``account_age``        the account is INVITE_MIN_ACCOUNT_AGE_DAYS old;
``sanctions``          no upheld warning, quarantine or ban in INVITE_SANCTION_COOLDOWN_DAYS;
``invitees``           at most INVITE_INVITEES_MAX_BAD_SHARE of the member's invitees are
                       banned or quarantined (once there are INVITE_INVITEES_MIN_COUNT);
``trust_score``        at least INVITE_MIN_TRUST_SCORE (inactive until scores exist);
``allowance``          an invitation left to spend (see allowance.py);
``registration``       registration is not ``closed`` (site_config): nobody could join
                       through an invitation then, so none is sent, a founder's neither.

Founders and moderators pass the automatic rules (age, sanctions, invitees, trust
score) and the allowance; a moderator's grant waives the automatic rules for a member.
Nothing waives standing, a suspension or closed registration. An evaluation makes at
most three queries (sanctions, grant, one for the invitees' record, the allowance and
the registration mode; founders and moderators: sanctions and the mode), whatever the
number of invitees.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import formats
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from inviteonly.accounts.models import Member
from inviteonly.invitations.allowance import AllowanceState, allowance_from, allowance_inputs
from inviteonly.invitations.models import InviteRightsGrant
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.queries import columns_of, fetch_models
from inviteonly.lib.subqueries import SubqueryCount
from inviteonly.lib.time_zones import shown_date
from inviteonly.moderation.models import RECORD_KINDS, Sanction, SanctionKind
from inviteonly.site_config.models import (
    RegistrationMode,
    SiteConfiguration,
    get_site_configuration,
)

DAY = timedelta(days=1)


class RuleState(models.TextChoices):
    PASSED = "passed"
    FAILED = "failed"
    # Passed without being checked: founders, moderators, a moderator's grant.
    WAIVED = "waived"
    # Not in use yet (the trust score before scores exist).
    INACTIVE = "inactive"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    title: str
    state: RuleState
    reason: str
    # When the rule will pass if nothing else changes; None if time does not fix it.
    passes_at: datetime | None = None
    # How far along the member is toward passing (days of account age so far of the
    # days required; invitations available of the most that can be saved up).
    progress: int | None = None
    target: int | None = None

    @property
    def failed(self) -> bool:
        return self.state == RuleState.FAILED


@dataclass(frozen=True)
class InviteRights:
    evaluated_at: datetime
    unlimited: bool
    rules: list[RuleResult]
    # None for founders and moderators (they invite without an allowance).
    allowance: AllowanceState | None
    grant: InviteRightsGrant | None = field(default=None)

    @property
    def can_invite(self) -> bool:
        return not any(rule.failed for rule in self.rules)

    @property
    def registration_closed(self) -> bool:
        return any(rule.rule == "registration" and rule.failed for rule in self.rules)

    @property
    def failed_rules(self) -> list[RuleResult]:
        return [rule for rule in self.rules if rule.failed]

    @property
    def can_invite_at(self) -> datetime | None:
        """When every failed rule will have passed by itself; None if one of them
        needs a person (a moderator, a review) or if the member can invite now."""
        failed = self.failed_rules
        if not failed or any(rule.passes_at is None for rule in failed):
            return None
        return max(rule.passes_at for rule in failed if rule.passes_at is not None)

    @property
    def days_to_wait(self) -> int | None:
        """Whole days until ``can_invite_at``, rounded up ("You can invite in 12 days")."""
        moment = self.can_invite_at
        if moment is None:
            return None
        return max(1, math.ceil((moment - self.evaluated_at) / DAY))


def _standing_rule(member: Member) -> RuleResult:
    title = _("Your account is in good standing")
    if member.status == Member.Status.ACTIVE:
        return RuleResult("standing", title, RuleState.PASSED, _("Your account is active."))
    if member.status == Member.Status.QUARANTINED:
        reason = _("Your account is quarantined until a moderator reviews it.")
    else:
        reason = _("Your account is banned.")
    return RuleResult("standing", title, RuleState.FAILED, reason)


def _suspension_rule(suspension: Sanction | None) -> RuleResult:
    title = _("Your invite rights are not suspended")
    if suspension is None:
        return RuleResult(
            "suspension", title, RuleState.PASSED, _("No suspension is in force.")
        )
    if suspension.moderator_id is None:
        reason = _("People you invited were banned for spam, so your invite rights are "
                   "suspended.")
    else:
        reason = _("A moderator suspended your invite rights: %(reason)s") % {
            "reason": suspension.reason
        }
    if suspension.ends_at is not None:
        reason = f"{reason} " + _("The suspension ends on %(date)s.") % {
            "date": shown_date(suspension.ends_at)
        }
    return RuleResult(
        "suspension", title, RuleState.FAILED, reason, passes_at=suspension.ends_at
    )


def _waived(rule: str, title: str, reason: str) -> RuleResult:
    return RuleResult(rule, title, RuleState.WAIVED, reason)


def _account_age_title() -> str:
    days = settings.INVITE_MIN_ACCOUNT_AGE_DAYS
    return ngettext(
        "Your account is at least %(days)d day old",
        "Your account is at least %(days)d days old",
        days,
    ) % {"days": days}


def _sanctions_title() -> str:
    days = settings.INVITE_SANCTION_COOLDOWN_DAYS
    return ngettext(
        "No sanction in the last %(days)d day",
        "No sanction in the last %(days)d days",
        days,
    ) % {"days": days}


def _invitees_title() -> str:
    return _("The people you invited keep the rules")


def _trust_score_title() -> str:
    return _("Your trust score is at least %(score)s") % {
        "score": formats.number_format(settings.INVITE_MIN_TRUST_SCORE, 2)
    }


def _account_age_rule(member: Member, now: datetime) -> RuleResult:
    days = settings.INVITE_MIN_ACCOUNT_AGE_DAYS
    title = _account_age_title()
    eligible_at = member.joined_at + timedelta(days=days)
    age = max(0, (now - member.joined_at) // DAY)
    if now >= eligible_at:
        reason = ngettext(
            "Your account is %(age)d day old.", "Your account is %(age)d days old.", age
        ) % {"age": age}
        return RuleResult(
            "account_age", title, RuleState.PASSED, reason, progress=min(age, days), target=days
        )
    reason = ngettext(
        "Members can invite once their account is %(days)d day old. "
        "You can invite from %(date)s.",
        "Members can invite once their account is %(days)d days old. "
        "You can invite from %(date)s.",
        days,
    ) % {"days": days, "date": shown_date(eligible_at)}
    return RuleResult(
        "account_age",
        title,
        RuleState.FAILED,
        reason,
        passes_at=eligible_at,
        progress=age,
        target=days,
    )


def _sanctions_rule(recent: list[Sanction]) -> RuleResult:
    days = settings.INVITE_SANCTION_COOLDOWN_DAYS
    title = _sanctions_title()
    if not recent:
        return RuleResult(
            "sanctions",
            title,
            RuleState.PASSED,
            ngettext(
                "You have had no warning, quarantine or ban in the last %(days)d day.",
                "You have had no warning, quarantine or ban in the last %(days)d days.",
                days,
            )
            % {"days": days},
        )
    latest = recent[0]
    passes_at = latest.created_at + timedelta(days=days)
    reason = ngettext(
        "You received a sanction (%(kind)s) on %(date)s. Members can invite again "
        "%(days)d day after their last sanction: from %(until)s.",
        "You received a sanction (%(kind)s) on %(date)s. Members can invite again "
        "%(days)d days after their last sanction: from %(until)s.",
        days,
    ) % {
        "kind": SanctionKind(latest.kind).label,
        "date": shown_date(latest.created_at),
        "days": days,
        "until": shown_date(passes_at),
    }
    return RuleResult("sanctions", title, RuleState.FAILED, reason, passes_at=passes_at)


def _invitees_rule(total: int, bad: int) -> RuleResult:
    minimum = settings.INVITE_INVITEES_MIN_COUNT
    share = settings.INVITE_INVITEES_MAX_BAD_SHARE
    percent = round(share * 100)
    title = _invitees_title()
    if total < minimum:
        reason = ngettext(
            "This rule applies once you have invited %(minimum)d member; so far: %(total)d.",
            "This rule applies once you have invited %(minimum)d members; so far: %(total)d.",
            minimum,
        ) % {"minimum": minimum, "total": total}
        return RuleResult("invitees", title, RuleState.PASSED, reason)
    if bad / total <= share:
        reason = ngettext(
            "%(bad)d of the %(total)d member you invited is banned or quarantined "
            "(at most %(percent)d%% may be).",
            "%(bad)d of the %(total)d members you invited are banned or quarantined "
            "(at most %(percent)d%% may be).",
            total,
        ) % {"bad": bad, "total": total, "percent": percent}
        return RuleResult("invitees", title, RuleState.PASSED, reason)
    reason = ngettext(
        "%(bad)d of the %(total)d member you invited is banned or quarantined, more than "
        "%(percent)d%%. A moderator can restore your invite rights.",
        "%(bad)d of the %(total)d members you invited are banned or quarantined, more than "
        "%(percent)d%%. A moderator can restore your invite rights.",
        total,
    ) % {"bad": bad, "total": total, "percent": percent}
    return RuleResult("invitees", title, RuleState.FAILED, reason)


def _trust_score_rule(member: Member) -> RuleResult:
    minimum = settings.INVITE_MIN_TRUST_SCORE
    title = _trust_score_title()
    provider = settings.INVITE_TRUST_SCORE_PROVIDER
    score = import_string(provider)(member) if provider else None
    if score is None:
        return RuleResult(
            "trust_score",
            title,
            RuleState.INACTIVE,
            _("Trust scores are not computed yet, so this rule does not apply."),
        )
    formatted = {"score": formats.number_format(score, 2),
                 "minimum": formats.number_format(minimum, 2)}
    if score >= minimum:
        return RuleResult(
            "trust_score", title, RuleState.PASSED,
            _("Your trust score is %(score)s.") % formatted,
        )
    return RuleResult(
        "trust_score", title, RuleState.FAILED,
        _("Your trust score is %(score)s; inviting needs %(minimum)s.") % formatted,
    )


def allowance_refusal_reason(allowance: AllowanceState) -> str:
    if allowance.next_earned_at is None:  # cannot happen with a maximum above zero
        return _("You have no invitations left.")
    return _(
        "You have used all your invitations. The next one arrives on %(date)s; an "
        "invitation that expires unused comes back on the day it expires, one you revoke "
        "on the day it would have expired."
    ) % {"date": shown_date(allowance.next_earned_at)}


def _allowance_rule(allowance: AllowanceState | None) -> RuleResult:
    title = _("You have an invitation to send")
    if allowance is None:
        return _waived("allowance", title, _("Founders and moderators invite without a limit."))
    if allowance.available > 0:
        reason = ngettext(
            "%(available)d of at most %(maximum)d invitation left.",
            "%(available)d of at most %(maximum)d invitations left.",
            allowance.maximum,
        ) % {"available": allowance.available, "maximum": allowance.maximum}
        if allowance.next_earned_at is not None:
            reason = f"{reason} " + _("The next one arrives on %(date)s.") % {
                "date": shown_date(allowance.next_earned_at)
            }
        return RuleResult(
            "allowance", title, RuleState.PASSED, reason,
            progress=allowance.available, target=allowance.maximum,
        )
    return RuleResult(
        "allowance", title, RuleState.FAILED, allowance_refusal_reason(allowance),
        passes_at=allowance.next_earned_at, progress=0, target=allowance.maximum,
    )


def registration_closed() -> ActionError:
    """The refusal of any invitation while registration is closed: nobody could join
    through its link."""
    return ActionError(
        "registration_closed",
        gettext_lazy("Registration is closed at the moment, so invitations cannot be "
                     "sent. Please try again later."),
        status=403,
    )


def _registration_rule(mode: str | None) -> RuleResult:
    title = _("The site takes new members")
    if mode == RegistrationMode.CLOSED:
        return RuleResult(
            "registration", title, RuleState.FAILED, str(registration_closed().message)
        )
    return RuleResult(
        "registration", title, RuleState.PASSED, _("The people you invite can join.")
    )


def _waived_automatic_rules(waiver: str) -> list[RuleResult]:
    return [
        _waived("account_age", _account_age_title(), waiver),
        _waived("sanctions", _sanctions_title(), waiver),
        _waived("invitees", _invitees_title(), waiver),
        _waived("trust_score", _trust_score_title(), waiver),
    ]


# The sanctions both sanction rules read: invite suspensions in force, upheld record
# sanctions (RECORD_KINDS) of the cooldown period. Every invitation sent reads them
# (see lib/queries.py).
_RECORD_KIND_PARAMETERS = {f"record_kind_{index}": kind for index, kind in enumerate(RECORD_KINDS)}
_SANCTIONS_SQL = (
    f"SELECT {columns_of(Sanction, 's')} FROM moderation_sanction s "  # noqa: S608
    "WHERE s.member_id = %(member)s AND ("
    "(s.kind = %(suspension)s AND s.ended_at IS NULL "
    "AND (s.ends_at IS NULL OR s.ends_at > %(now)s)) "
    "OR (s.kind IN ("
    + ", ".join(f"%({name})s" for name in _RECORD_KIND_PARAMETERS)
    + ") AND s.upheld = %(upheld)s AND s.created_at > %(cooldown_start)s)) "
    "ORDER BY s.created_at DESC, s.id DESC"
)


class _Unread(enum.Enum):
    UNREAD = "unread"


UNREAD = _Unread.UNREAD


def evaluate_invite_rights(
    member: Member, *, just_joined: bool = False,
    registration_mode: str | _Unread | None = UNREAD,
) -> InviteRights:
    """Every rule for ``member``, in three queries (two for founders and moderators).
    ``just_joined``: the member was created by this very request, so no sanction,
    grant, invitee or allowance of theirs can exist yet — no query is needed.
    ``registration_mode``: as the caller read it (REGISTRATION_MODE_COLUMN: None while
    the row is missing), so that it is not read again."""
    now = clock.now()
    cooldown_start = now - timedelta(days=settings.INVITE_SANCTION_COOLDOWN_DAYS)
    # One query for both sanction rules; relies on the index sanction_member_recent.
    sanctions = [] if just_joined else fetch_models(Sanction, _SANCTIONS_SQL, {
        "member": member.id, "suspension": SanctionKind.INVITE_SUSPENSION, "now": now,
        **_RECORD_KIND_PARAMETERS, "upheld": True, "cooldown_start": cooldown_start,
    })
    suspensions = [s for s in sanctions if s.kind == SanctionKind.INVITE_SUSPENSION]
    # The suspension that lasts longest decides (one without an end date, else the latest end).
    suspension = max(
        suspensions,
        key=lambda s: (s.ends_at is None, s.ends_at or now),
        default=None,
    )
    rules = [_standing_rule(member), _suspension_rule(suspension)]
    unlimited = member.invites_without_limit
    if unlimited:
        rules += _waived_automatic_rules(_("Waived for founders and moderators."))
        rules.append(_allowance_rule(None))
        if registration_mode is UNREAD:
            registration_mode = (
                None if just_joined else get_site_configuration().registration_mode
            )
        rules.append(_registration_rule(registration_mode))
        return InviteRights(evaluated_at=now, unlimited=True, rules=rules, allowance=None)
    grant: InviteRightsGrant | None = None
    # A member who just joined did so with registration not closed (a join reads the
    # mode in its own statement).
    if just_joined and registration_mode is UNREAD:
        registration_mode = None
    if just_joined:
        invitee_count, bad_invitee_count = 0, 0
        allowance = allowance_from(member, earned_from=None, unsettled=0, moment=now)
    else:
        grant = (
            InviteRightsGrant.objects.filter(member_id=member.id, withdrawn_at__isnull=True)
            .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
            .order_by("-created_at")
            .first()
        )
        # One query for the invitees' record and the allowance: scalar subqueries on the
        # indexed foreign keys (invited_by, inviter), whatever the number of invitees.
        bad_statuses = [Member.Status.BANNED, Member.Status.QUARANTINED]
        row = cast(
            dict[str, Any],
            Member.objects.filter(id=member.id)
            .values(
                invitee_count=SubqueryCount(
                    Member.objects.filter(invited_by_id=OuterRef("id")).values("id")
                ),
                bad_invitee_count=SubqueryCount(
                    Member.objects.filter(
                        invited_by_id=OuterRef("id"), status__in=bad_statuses
                    ).values("id")
                ),
                **allowance_inputs(now),
                **({"registration_mode": Subquery(
                    SiteConfiguration.objects.filter(id=1).values("registration_mode")[:1]
                )} if registration_mode is UNREAD else {}),
            )
            .get(),
        )
        invitee_count, bad_invitee_count = row["invitee_count"], row["bad_invitee_count"]
        if registration_mode is UNREAD:
            registration_mode = row["registration_mode"]
        allowance = allowance_from(
            member,
            earned_from=row["allowance_earned_from"],
            unsettled=row["allowance_unsettled"],
            moment=now,
        )
    if grant is not None:
        rules += _waived_automatic_rules(
            _("Waived: a moderator granted you invite rights until %(date)s.")
            % {"date": shown_date(grant.ends_at)}
            if grant.ends_at is not None
            else _("Waived: a moderator granted you invite rights.")
        )
    else:
        rules += [
            _account_age_rule(member, now),
            _sanctions_rule([s for s in sanctions if s.kind in RECORD_KINDS]),
            _invitees_rule(invitee_count, bad_invitee_count),
            _trust_score_rule(member),
        ]
    rules.append(_allowance_rule(allowance))
    assert not isinstance(registration_mode, _Unread)
    rules.append(_registration_rule(registration_mode))
    return InviteRights(
        evaluated_at=now, unlimited=False, rules=rules, allowance=allowance, grant=grant
    )


# Rules about sending an invitation now rather than about the member's invite rights.
_NOT_RIGHTS = frozenset({"allowance", "registration"})


def check_can_invite(
    member: Member, *, allowance_needed: bool = True,
    registration_mode: str | _Unread | None = UNREAD,
) -> InviteRights:
    """Refuse (403) with the first failed rule's reason; otherwise the evaluation.
    ``allowance_needed=False`` asks only whether the member has invite rights — enough
    to read and vouch for invitation requests with no invitation left to spend, or
    while registration is closed (vouching sends nothing). ``registration_mode``: see
    ``evaluate_invite_rights``."""
    rights = evaluate_invite_rights(member, registration_mode=registration_mode)
    failed = [
        rule for rule in rights.failed_rules
        if allowance_needed or rule.rule not in _NOT_RIGHTS
    ]
    if failed and failed[0].rule == "registration":
        raise registration_closed()
    if failed:
        code = "no_invitations_left" if failed[0].rule == "allowance" else "invite_not_allowed"
        raise ActionError(code, failed[0].reason, status=403)
    return rights


def can_invite(member: Member, *, just_joined: bool = False) -> bool:
    return evaluate_invite_rights(member, just_joined=just_joined).can_invite
