"""Inviting by phone and joining: who may invite, what each bad link or number gets,
registration modes, existing members' numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import formats, translation

from inviteonly.abuse.limiter import RedisStore
from inviteonly.abuse.models import RateLimitCounter
from inviteonly.accounts.actions import do_confirm_join, do_start_join
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import (
    do_create_founder_invitation,
    do_invite_by_phone,
    do_revoke_invitation,
    join_token_digest,
)
from inviteonly.invitations.models import Invitation, InvitationState
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib.errors import ActionError
from inviteonly.lib.sms_text import shape_of
from inviteonly.moderation.actions import do_lift_sanction, do_quarantine_member
from inviteonly.moderation.models import Sanction
from inviteonly.notifications.models import Notification
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.site_config.actions import do_set_registration_mode
from inviteonly.site_config.models import RegistrationMode
from inviteonly.sms.models import OutboundSms
from tests.conftest import (
    PASSWORD,
    REDIS_URL,
    ApiClient,
    FrozenClock,
    SmsOutbox,
    assert_read_like_the_orm,
    make_member,
)

pytestmark = pytest.mark.django_db

NUMBER = "+79161234567"


def join(invitation: Invitation | None, sms_outbox: SmsOutbox, *, phone: str = NUMBER) -> Member:
    started = do_start_join(
        invitation=invitation, phone=phone, display_name="Boris", password=PASSWORD, language="ru"
    )
    return do_confirm_join(verification_id=started.verification.id, code=sms_outbox.code_for(phone))


def invite_and_open(inviter: Member, sms_outbox: SmsOutbox, phone: str = NUMBER) -> Invitation:
    do_invite_by_phone(inviter=inviter, phone=phone)
    return access_invitation_by_token(sms_outbox.join_token_for(phone))


def test_new_member_must_wait_before_inviting(clock: FrozenClock, sms_outbox: SmsOutbox) -> None:
    member = make_member(joined_at=clock.current)
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=member, phone=NUMBER)
    assert refused.value.code == "invite_not_allowed"
    assert refused.value.status == 403
    assert "30 days" in str(refused.value.message)
    clock.advance(days=30)
    invitation = do_invite_by_phone(inviter=member, phone=NUMBER)
    assert invitation.state == InvitationState.PENDING


@pytest.mark.parametrize("role", [Member.Role.FOUNDER, Member.Role.MODERATOR])
def test_founders_and_moderators_invite_from_day_one(role: str, sms_outbox: SmsOutbox) -> None:
    do_invite_by_phone(inviter=make_member(role=role), phone=NUMBER)
    assert len(sms_outbox.to(NUMBER)) == 1


def test_banned_member_cannot_invite(sms_outbox: SmsOutbox) -> None:
    member = make_member(role=Member.Role.FOUNDER)
    member.status = Member.Status.BANNED
    member.save()
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=member, phone=NUMBER)
    assert refused.value.code == "invite_not_allowed"
    assert OutboundSms.objects.count() == 0


def test_invitation_token_is_96_bits_and_stored_as_digest(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    invitation = do_invite_by_phone(inviter=founder, phone=NUMBER)
    token = sms_outbox.join_token_for(NUMBER)
    assert len(token) >= 16  # 12 random bytes, URL-safe base64
    assert invitation.token_digest == join_token_digest(token)
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)


@pytest.mark.parametrize(
    ("phone", "language", "encoding"),
    [("+79161234567", "ru", "ucs2"), ("+14155552671", "en", "gsm7")],
)
def test_invitation_sms_in_likely_language_fits_one_segment(
    founder: Member, sms_outbox: SmsOutbox, phone: str, language: str, encoding: str
) -> None:
    founder.display_name = "Анна-Мария Константинопольская-Старшая"
    founder.save()
    do_invite_by_phone(inviter=founder, phone=phone)
    message = OutboundSms.objects.get()
    assert message.encoding == encoding
    assert message.segments == 1
    text = sms_outbox.last_text_to(phone)
    assert shape_of(text).segments == 1
    assert "/j/" in text


def test_number_of_existing_member_gets_same_answer_and_no_sms(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    make_member(phone=NUMBER)
    existing = do_invite_by_phone(inviter=founder, phone=NUMBER)
    fresh = do_invite_by_phone(inviter=founder, phone="+79167654321")
    assert existing.state == fresh.state == InvitationState.PENDING
    assert existing.phone_masked == "+7 916 ***-**-67"
    assert sms_outbox.to(NUMBER) == []
    assert len(sms_outbox.to("+79167654321")) == 1


def test_a_member_findable_by_phone_is_named_instead_of_invited(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    from inviteonly.social.models import Profile

    member = make_member(phone=NUMBER, display_name="Vera")
    Profile.objects.create(member=member, findable_by_phone=True)
    with translation.override("ru"), pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=founder, phone=NUMBER)
    assert (refused.value.code, refused.value.status) == ("already_a_member", 409)
    assert str(refused.value.message) == "Vera уже участник с этим номером."
    assert Invitation.objects.count() == 0
    assert sms_outbox.to(NUMBER) == []


def test_inviting_the_same_number_twice_is_refused_while_pending(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    first = do_invite_by_phone(inviter=founder, phone=NUMBER)
    with translation.override("en"), pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=founder, phone="8 916 123-45-67")
    assert refused.value.code == "invitation_pending"
    assert str(refused.value.message) == (
        "You have already invited this number. The invitation is valid until "
        f"{formats.date_format(first.expires_at, 'DATE_FORMAT')}."
    )
    clock.advance(days=7, seconds=1)
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    assert Invitation.objects.count() == 2


def test_a_revoked_or_redeemed_invitation_is_not_pending(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    revoked = do_invite_by_phone(inviter=founder, phone=NUMBER)
    sms_outbox.deliver()  # sent at once, as by the worker: revoked later
    do_revoke_invitation(member=founder, invitation_id=revoked.id)
    redeemed = do_invite_by_phone(inviter=founder, phone=NUMBER)
    Invitation.objects.filter(id=redeemed.id).update(
        redeemed_at=redeemed.created_at, redeemed_by=make_member()
    )
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    assert len(sms_outbox.to(NUMBER)) == 3


def test_a_banned_member_findable_by_phone_is_not_named(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    from inviteonly.social.models import Profile

    member = make_member(phone=NUMBER, display_name="Vera")
    Member.objects.filter(id=member.id).update(status=Member.Status.BANNED)
    Profile.objects.create(member=member, findable_by_phone=True)
    invitation = do_invite_by_phone(inviter=founder, phone=NUMBER)
    assert invitation.state == InvitationState.PENDING
    assert sms_outbox.to(NUMBER) == []


def test_overlong_note_is_refused_and_nothing_is_written(founder: Member) -> None:
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=founder, phone=NUMBER, note="x" * 201)
    assert refused.value.field == "note"
    assert Invitation.objects.count() == 0
    assert OutboundSms.objects.count() == 0


@pytest.mark.parametrize(
    ("token", "code"), [("nonsense", "invitation_unknown"), ("", "invitation_unknown")]
)
def test_unknown_token(token: str, code: str) -> None:
    with pytest.raises(ActionError) as refused:
        access_invitation_by_token(token)
    assert refused.value.code == code


def test_expired_invitation_cannot_be_opened_or_redeemed(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    invitation = invite_and_open(founder, sms_outbox)
    token = sms_outbox.join_token_for(NUMBER)
    started = do_start_join(
        invitation=invitation, phone=NUMBER, display_name="Boris", password=PASSWORD,
        language="en",
    )
    code = sms_outbox.code_for(NUMBER)
    clock.advance(days=7)
    with pytest.raises(ActionError) as refused:
        access_invitation_by_token(token)
    assert refused.value.code == "invitation_expired"
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=code)
    assert refused.value.code == "code_expired"
    assert not Member.objects.filter(display_name="Boris").exists()


def test_invitation_expiring_while_the_code_is_typed_is_not_redeemed(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    invitation = invite_and_open(founder, sms_outbox)
    clock.advance(days=7, minutes=-2)
    started = do_start_join(
        invitation=invitation, phone=NUMBER, display_name="Boris", password=PASSWORD,
        language="en",
    )
    clock.advance(minutes=3)  # the code is still valid, the invitation is not
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=sms_outbox.code_for(NUMBER))
    assert refused.value.code == "invitation_used"
    assert Invitation.objects.get().redeemed_at is None
    assert not Member.objects.filter(display_name="Boris").exists()
    # The rows written with the redemption went back with it.
    assert not AuditEntry.objects.filter(
        action__in=[AuditAction.MEMBER_JOINED, AuditAction.INVITATION_REDEEMED]
    ).exists()
    assert not Notification.objects.exists()
    assert PhoneVerification.objects.get(id=started.verification.id).consumed_at is None


def test_used_invitation_cannot_be_used_again(founder: Member, sms_outbox: SmsOutbox) -> None:
    token_holder = invite_and_open(founder, sms_outbox)
    token = sms_outbox.join_token_for(NUMBER)
    join(token_holder, sms_outbox)
    with pytest.raises(ActionError) as refused:
        access_invitation_by_token(token)
    assert refused.value.code == "invitation_used"


def test_join_link_with_a_different_number_answers_alike_but_never_succeeds(
    founder: Member, sms_outbox: SmsOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forwarded link is useless without the phone, and cannot reveal the number."""
    invitation = invite_and_open(founder, sms_outbox)
    monkeypatch.setattr("inviteonly.lib.tokens.new_code", lambda: "123456")
    started = do_start_join(
        invitation=invitation, phone="+79167654321", display_name="Eve", password=PASSWORD,
        language="en",
    )
    assert started.verification.phone_masked == "+7 916 ***-**-21"
    assert sms_outbox.to("+79167654321") == []
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code="123456")
    assert refused.value.code == "code_wrong"
    assert Member.objects.count() == 1
    assert PhoneVerification.objects.get().pending_password_hash == ""


@pytest.mark.parametrize(
    ("field", "overrides", "code"),
    [
        ("display_name", {"display_name": "   "}, "display_name_required"),
        ("display_name", {"display_name": "x" * 65}, "display_name_too_long"),
        ("display_name", {"display_name": "Bob\u202eevil"}, "display_name_invalid"),
        ("password", {"password": "short"}, "password_weak"),
        ("password", {"password": "12345678901"}, "password_weak"),
        ("password", {"password": "x" * 257}, "password_too_long"),
        ("language", {"language": "fr"}, "language_unknown"),
        ("phone", {"phone": "+7 800 123-45-67"}, "phone_not_mobile"),
    ],
)
def test_bad_join_input_is_refused_and_nothing_is_written(
    founder: Member, sms_outbox: SmsOutbox, field: str, overrides: dict[str, str], code: str
) -> None:
    invitation = invite_and_open(founder, sms_outbox)
    sent_before = OutboundSms.objects.count()
    arguments = {
        "phone": NUMBER, "display_name": "Boris", "password": PASSWORD, "language": "en",
        **overrides,
    }
    with pytest.raises(ActionError) as refused:
        do_start_join(invitation=invitation, **arguments)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert PhoneVerification.objects.count() == 0
    assert OutboundSms.objects.count() == sent_before


def test_joining_with_a_number_that_has_an_account_reveals_it_only_after_the_code(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    other_founder_invitation, _token = do_create_founder_invitation()
    make_member(phone=NUMBER)
    started = do_start_join(
        invitation=other_founder_invitation, phone=NUMBER, display_name="Boris",
        password=PASSWORD, language="en",
    )
    assert len(sms_outbox.to(NUMBER)) == 1  # the owner of the number got a code
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=sms_outbox.code_for(NUMBER))
    assert refused.value.code == "phone_taken"
    assert Member.objects.count() == 2
    assert Invitation.objects.get(id=other_founder_invitation.id).redeemed_at is None


def test_founder_invitation_makes_a_founder(sms_outbox: SmsOutbox) -> None:
    _invitation, token = do_create_founder_invitation()
    member = join(access_invitation_by_token(token), sms_outbox)
    assert member.role == Member.Role.FOUNDER
    assert member.is_staff and member.is_superuser
    assert member.invited_by is None


def test_closed_registration_refuses_invitations_but_not_founder_invitations(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    invitation = invite_and_open(founder, sms_outbox)
    do_set_registration_mode(actor=founder, mode=RegistrationMode.CLOSED)
    with pytest.raises(ActionError) as refused:
        join(invitation, sms_outbox)
    assert refused.value.code == "registration_closed"
    founder_invitation, _token = do_create_founder_invitation()
    assert join(founder_invitation, sms_outbox, phone="+79165550000").role == Member.Role.FOUNDER


def test_a_closed_site_sends_no_invitation_nor_grants_a_request(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """Nobody could join through the link: no SMS, no allowance spent, the request
    stays listed for when registration opens again."""
    from inviteonly.invitation_requests.actions import (
        do_grant_invitation_request,
        do_request_invitation,
    )
    from inviteonly.invitation_requests.models import InvitationRequest

    do_request_invitation(phone="+79161112233", note="A friend of a friend", language="en")
    request = InvitationRequest.objects.get()
    do_set_registration_mode(actor=founder, mode=RegistrationMode.CLOSED)
    for attempt in (
        lambda: do_invite_by_phone(inviter=founder, phone=NUMBER),
        lambda: do_grant_invitation_request(member=founder, request_id=request.id),
    ):
        with pytest.raises(ActionError) as refused:
            attempt()
        assert (refused.value.code, refused.value.status) == ("registration_closed", 403)
        with translation.override("ru"):
            assert str(refused.value.message) == (
                "Регистрация сейчас закрыта, поэтому приглашения не отправляются. "
                "Попробуйте позже."
            )
    assert not Invitation.objects.exists() and not OutboundSms.objects.exists()
    request.refresh_from_db()
    assert request.listed
    do_set_registration_mode(actor=founder, mode=RegistrationMode.INVITE_ONLY)
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    assert len(sms_outbox.deliver()) == 1


def test_mode_closed_between_code_and_confirmation_refuses(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    invitation = invite_and_open(founder, sms_outbox)
    started = do_start_join(
        invitation=invitation, phone=NUMBER, display_name="Boris", password=PASSWORD,
        language="en",
    )
    do_set_registration_mode(actor=founder, mode=RegistrationMode.CLOSED)
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=sms_outbox.code_for(NUMBER))
    assert refused.value.code == "registration_closed"
    assert Member.objects.count() == 1


def test_open_mode_lets_anyone_with_a_number_join(founder: Member, sms_outbox: SmsOutbox) -> None:
    with pytest.raises(ActionError) as refused:
        join(None, sms_outbox)
    assert refused.value.code == "invitation_required"
    do_set_registration_mode(actor=founder, mode=RegistrationMode.OPEN)
    member = join(None, sms_outbox)
    assert member.invited_by is None
    assert member.role == Member.Role.MEMBER


def test_mode_switch_is_audited(founder: Member) -> None:
    do_set_registration_mode(actor=founder, mode=RegistrationMode.OPEN, ip_address="10.0.0.1")
    entry = AuditEntry.objects.get(action=AuditAction.REGISTRATION_MODE_CHANGED)
    assert entry.actor == founder
    assert entry.details == {"mode": "open", "previous_mode": "invite_only"}
    with pytest.raises(ActionError) as refused:
        do_set_registration_mode(actor=founder, mode="sometimes")
    assert refused.value.code == "mode_unknown"


def test_only_administrators_switch_the_mode(founder: Member) -> None:
    with pytest.raises(ActionError) as refused:
        do_set_registration_mode(actor=make_member(), mode=RegistrationMode.OPEN)
    assert refused.value.status == 403


def test_bootstrap_founder_link_dies_with_the_first_member(sms_outbox: SmsOutbox) -> None:
    _older, older_token = do_create_founder_invitation(bootstrap=True)
    _newer, newer_token = do_create_founder_invitation(bootstrap=True)
    with pytest.raises(ActionError) as replaced:
        access_invitation_by_token(older_token)
    assert replaced.value.code == "invitation_revoked"
    deliberate, deliberate_token = do_create_founder_invitation()
    assert join(access_invitation_by_token(newer_token), sms_outbox).role == Member.Role.FOUNDER
    # Another serve-printed link cannot make a second superuser now...
    _later, later_token = do_create_founder_invitation(bootstrap=True)
    with pytest.raises(ActionError) as dead:
        access_invitation_by_token(later_token)
    assert dead.value.code == "invitation_revoked"
    # ...but a founder invitation made on purpose with `inviteonly founder` still works.
    assert access_invitation_by_token(deliberate_token) == deliberate


@pytest.mark.parametrize(
    "name", ["Call +7 800 555-35-35", "visit evil.example", "Bank/Support", "Anna 2"]
)
def test_names_that_could_carry_numbers_or_links_stay_out_of_the_sms(
    founder: Member, sms_outbox: SmsOutbox, name: str
) -> None:
    founder.display_name = name
    founder.save()
    do_invite_by_phone(inviter=founder, phone="+14155552671")
    text = sms_outbox.last_text_to("+14155552671")
    assert text.startswith("You are invited to inviteonly: http://testserver/j/")


def test_plain_names_are_named_in_the_sms(founder: Member, sms_outbox: SmsOutbox) -> None:
    founder.display_name = "Anne-Marie O'Neil"
    founder.save()
    do_invite_by_phone(inviter=founder, phone="+14155552671")
    assert sms_outbox.last_text_to("+14155552671").startswith("Anne-Marie O'Neil invites you")


def test_note_with_a_direction_override_is_refused(founder: Member) -> None:
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=founder, phone=NUMBER, note="see \u202egnp.exe")
    assert (refused.value.code, refused.value.field) == ("note_invalid", "note")
    assert Invitation.objects.count() == 0


def test_daily_cap_refuses_members_but_not_founders(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    invitation = invite_and_open(founder, sms_outbox)
    _founder_invitation, token = do_create_founder_invitation()
    with override_settings(NEW_MEMBERS_PER_DAY=0):
        with pytest.raises(ActionError) as refused:
            join(invitation, sms_outbox)
        assert (refused.value.code, refused.value.status) == ("daily_member_cap", 429)
        assert "tomorrow" in str(refused.value.message)
        assert join(access_invitation_by_token(token), sms_outbox, phone="+79165550000").role == (
            Member.Role.FOUNDER
        )
    assert Invitation.objects.get(id=invitation.id).redeemed_at is None


def test_an_invitation_read_by_its_token_is_the_orms(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    # access_invitation_by_token reads with hand-written SQL (lib/queries.py): every
    # field of the invitation and of its inviter, or no inviter, as the ORM gives them.
    do_invite_by_phone(inviter=founder, phone="+79161234567")
    sent = access_invitation_by_token(sms_outbox.join_token_for("+79161234567"))
    _founder_link, token = do_create_founder_invitation()
    unsent = access_invitation_by_token(token)
    assert unsent.inviter is None
    for read in (sent, unsent):
        orm = Invitation.objects.select_related("inviter").get(id=read.id)
        assert_read_like_the_orm(read, orm)
        assert_read_like_the_orm(read.inviter, orm.inviter)


def test_a_quarantined_inviters_invitations_wait_until_the_quarantine_ends(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    moderator = make_member(
        display_name="Moderator Ivan", role=Member.Role.MODERATOR, phone="+79160000002",
        invited_by=founder,
    )
    inviter = ApiClient()
    inviter.log_in("+79160000002")
    assert inviter.post("/invitations", {"phone": "+79163334455"}).status_code == 201
    token = sms_outbox.join_token_for("+79163334455")
    newcomer = ApiClient("ru")
    started = newcomer.post("/join", {
        "token": token, "phone": "+79163334455", "display_name": "Newcomer Boris",
        "password": PASSWORD, "language": "ru",
    })
    assert started.status_code == 202, started.json_body
    code = sms_outbox.code_for("+79163334455")
    do_quarantine_member(member=moderator, moderator=founder, reason="Spam ring")

    confirm = {"verification_token": started.json_body["verification_token"], "code": code}
    for path, body in (("/join/invitation", {"token": token}), ("/join/confirm", confirm)):
        held = newcomer.post(path, body)
        assert (held.status_code, held.json_body["code"]) == (403, "invitation_on_hold"), path
        assert held.json_body["detail"] == (
            "Этим приглашением сейчас нельзя воспользоваться. Попробуйте позже или "
            "спросите того, кто вас пригласил."
        )
    assert not Member.objects.filter(display_name="Newcomer Boris").exists()
    assert Invitation.objects.get().redeemed_at is None

    quarantine = Sanction.objects.get(member=moderator)
    do_lift_sanction(sanction_id=quarantine.id, moderator=founder, reason="Not him")
    joined = newcomer.post("/join/confirm", confirm)
    assert joined.status_code == 201, joined.json_body
    assert Member.objects.get(display_name="Newcomer Boris").invited_by == moderator


def test_nobody_joins_under_a_banned_inviter_whose_invitation_was_not_revoked(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """A ban revokes the member's invitations; a status set to banned some other way
    (the admin's field of old, before it went through the ban) still lets nobody in."""
    inviter = make_member(
        display_name="Inviter", role=Member.Role.MODERATOR, phone="+79160000002",
        invited_by=founder,
    )
    do_invite_by_phone(inviter=inviter, phone="+79163334455")
    token = sms_outbox.join_token_for("+79163334455")
    newcomer = ApiClient("ru")
    started = newcomer.post("/join", {
        "token": token, "phone": "+79163334455", "display_name": "Newcomer Boris",
        "password": PASSWORD, "language": "ru",
    })
    assert started.status_code == 202, started.json_body
    Member.objects.filter(id=inviter.id).update(status=Member.Status.BANNED)
    confirm = {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for("+79163334455"),
    }
    for path, body in (("/join/invitation", {"token": token}), ("/join/confirm", confirm)):
        refused = newcomer.post(path, body)
        assert (refused.status_code, refused.json_body["code"]) == (410, "invitation_revoked")
        assert refused.json_body["detail"] == (
            "Это приглашение больше не действует. Попросите пригласить вас кого-нибудь "
            "другого."
        )
    assert not Member.objects.filter(display_name="Newcomer Boris").exists()
    page = Client().get(f"/j/{token}")
    assert page.status_code == 410
    assert "This invitation is no longer valid." in page.content.decode()


def test_a_numbers_invitation_sms_count_in_the_invitations_transaction_with_redis(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock, redis_store: RedisStore
) -> None:
    """Where the rate-limit counters are in Redis, which no transaction rolls back, a
    number's invitation SMS are still counted in the database, in the invitation's
    transaction: refused invitations do not use up the number's three a day."""
    with override_settings(
        REDIS_URL=REDIS_URL, RATE_LIMITS={"invitation_sms": [("number", 3, 86400)]}
    ):
        first = do_invite_by_phone(inviter=founder, phone=NUMBER)
        for _ in range(3):
            with pytest.raises(ActionError) as refused:
                do_invite_by_phone(inviter=founder, phone=NUMBER)
            assert refused.value.code == "invitation_pending"
        sms_outbox.deliver()  # sent at once, as by the worker: revoked later
        do_revoke_invitation(member=founder, invitation_id=first.id)
        for _ in range(3):
            invitation = do_invite_by_phone(inviter=founder, phone=NUMBER)
            sms_outbox.deliver()
            do_revoke_invitation(member=founder, invitation_id=invitation.id)
    assert len(sms_outbox.to(NUMBER)) == 3
    assert list(OutboundSms.objects.order_by("id").values_list("suppressed", flat=True)) == [
        False, False, False, True
    ]
    (counter,) = RateLimitCounter.objects.filter(bucket__startswith="rl:invitation_sms.")
    assert counter.count == 4


def test_my_invitations_page_by_id_so_one_sent_between_pages_repeats_none(
    founder: Member, sms_outbox: SmsOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Newest first by id, ?before=<id>: an invitation sent while the member reads the
    first page goes to its top and pushes none of it onto the next one."""
    from inviteonly.invitations import views

    sent = [do_invite_by_phone(inviter=founder, phone=f"+7916555000{digit}").id
            for digit in range(1, 4)]
    api = ApiClient()
    api.log_in("+79160000001")
    first = api.get("/invitations?limit=2").json_body
    assert [item["id"] for item in first["items"]] == [sent[2], sent[1]]
    monkeypatch.setattr(views, "INVITATIONS_PER_PAGE", 2)
    page = Client()
    page.force_login(founder)
    listing = page.get("/invitations/").content.decode()
    assert f'href="?before={sent[1]}"' in listing

    do_invite_by_phone(inviter=founder, phone="+79165550009")
    second = api.get(f"/invitations?limit=2&before={first['next_before']}").json_body
    assert [item["id"] for item in second["items"]] == [sent[0]]
    assert second["next_before"] is None
    older = page.get(f"/invitations/?before={sent[1]}").content.decode()
    assert f"revoke-{sent[0]}" in older
    assert f"revoke-{sent[1]}" not in older and f"revoke-{sent[2]}" not in older
    assert api.get("/invitations?before=0").status_code == 422
