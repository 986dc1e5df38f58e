"""The whole membership flow through the JSON API: invite → SMS → join → code →
account → logout → login → recovery → login with the new password."""

from __future__ import annotations

import pytest

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.notifications.actions import notify_member
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.phone_verification.actions import verification_token_digest
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.sms.models import OutboundSms
from tests.conftest import PASSWORD, ApiClient, SmsOutbox

pytestmark = pytest.mark.django_db


def run_membership_flow(
    founder: Member, sms_outbox: SmsOutbox, *, typed_phone: str, e164: str, language: str,
    region: str | None = None,
) -> Member:
    inviter = ApiClient(language)
    inviter.log_in(founder_phone(founder))
    invited = inviter.post(
        "/invitations", {"phone": typed_phone, "note": "from work", "region": region}
    )
    assert invited.status_code == 201, invited.json_body
    assert invited.json_body["state"] == "pending"
    assert "***" in invited.json_body["phone_masked"]

    token = sms_outbox.join_token_for(e164)
    newcomer = ApiClient(language)
    preview = newcomer.post("/join/invitation", {"token": token})
    assert preview.status_code == 200
    assert preview.json_body["inviter_name"] == founder.display_name
    assert preview.json_body["note"] == "from work"

    started = newcomer.post("/join", {
        "token": token, "phone": typed_phone, "region": region,
        "display_name": "Newcomer Boris", "password": PASSWORD, "language": language,
    })
    assert started.status_code == 202, started.json_body
    joined = newcomer.post("/join/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for(e164),
    })
    assert joined.status_code == 201, joined.json_body
    assert joined.json_body["member"]["invited_by"]["display_name"] == founder.display_name
    newcomer.token = joined.json_body["session_token"]
    assert newcomer.get("/me").json_body["display_name"] == "Newcomer Boris"

    assert newcomer.request("DELETE", "/session").status_code == 204
    assert newcomer.get("/me").status_code == 401
    newcomer.log_in(e164)

    other_device = ApiClient(language)
    other_device.log_in(e164)
    recovery = ApiClient(language).post("/recovery", {"phone": e164})
    assert recovery.status_code == 202
    changed = ApiClient(language).post("/recovery/confirm", {
        "verification_token": recovery.json_body["verification_token"],
        "code": sms_outbox.code_for(e164),
        "new_password": "a brand new passphrase",
    })
    assert changed.status_code == 200, changed.json_body
    # Every session ended, old password dead, new one works.
    assert newcomer.get("/me").status_code == 401
    assert other_device.get("/me").status_code == 401
    assert ApiClient().post("/session", {"phone": e164, "password": PASSWORD}).status_code == 401
    newcomer.log_in(e164, "a brand new passphrase")
    assert newcomer.get("/me").status_code == 200
    return Member.objects.get(display_name="Newcomer Boris")


def founder_phone(founder: Member) -> str:
    return "+79160000001"


def test_us_number_end_to_end(founder: Member, sms_outbox: SmsOutbox) -> None:
    member = run_membership_flow(
        founder, sms_outbox, typed_phone="+1 415 555 2671", e164="+14155552671", language="en"
    )
    assert member.phone_masked == "+1 415-***-**71"
    assert member.invited_by == founder
    invitation_sms = sms_outbox.messages[0]
    assert invitation_sms.to == "+14155552671"
    assert invitation_sms.text.startswith("Founder Anna invites you to inviteonly: http://testserver/j/")


def test_russian_national_format_end_to_end(founder: Member, sms_outbox: SmsOutbox) -> None:
    member = run_membership_flow(
        founder, sms_outbox, typed_phone="8 (916) 123-45-67", e164="+79161234567",
        language="ru", region="RU",
    )
    assert member.phone_masked == "+7 916 ***-**-67"
    assert member.language == "ru"
    # The invitation SMS was written in Russian for a Russian number.
    assert "приглашает" in sms_outbox.messages[0].text


def test_a_satellite_number_end_to_end(founder: Member, sms_outbox: SmsOutbox) -> None:
    """Numbers of no country (+881…, libphonenumber's region "001") are stored without
    a region: "001" does not fit the two-letter columns (a 500 on PostgreSQL)."""
    member = run_membership_flow(
        founder, sms_outbox, typed_phone="+881 6 1234 5678", e164="+881612345678",
        language="en",
    )
    assert member.phone_masked.startswith("+881 6")
    assert set(PhoneVerification.objects.values_list("region", flat=True)) == {""}
    assert set(OutboundSms.objects.values_list("region", flat=True)) == {""}


def test_joining_notifies_inviter_and_writes_audit_entries(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    member = run_membership_flow(
        founder, sms_outbox, typed_phone="+79161234567", e164="+79161234567", language="en"
    )
    notification = Notification.objects.get(member=founder)
    assert notification.kind == NotificationKind.INVITEE_JOINED
    assert notification.subject == member
    assert Notification.objects.filter(
        member=member, kind=NotificationKind.PASSWORD_RECOVERED
    ).exists()
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        AuditAction.INVITATION_CREATED, AuditAction.JOIN_STARTED, AuditAction.MEMBER_JOINED,
        AuditAction.INVITATION_REDEEMED, AuditAction.LOGIN_SUCCEEDED, AuditAction.LOGGED_OUT,
        AuditAction.RECOVERY_REQUESTED, AuditAction.PASSWORD_RECOVERED,
    } <= actions
    invitation = Invitation.objects.get()
    assert invitation.redeemed_by == member
    assert AuditEntry.objects.get(action=AuditAction.MEMBER_JOINED).ip_address == "127.0.0.1"


def test_a_join_confirmed_again_after_a_lost_answer_says_to_log_in(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """A phone app whose confirmation timed out retries it: the account exists, so the
    answer must say to log in, not to start again (which ends at "invitation used")."""
    inviter = ApiClient()
    inviter.log_in(founder_phone(founder))
    assert inviter.post("/invitations", {"phone": "+79161234567"}).status_code == 201
    token = sms_outbox.join_token_for("+79161234567")
    newcomer = ApiClient("ru")
    join = {"token": token, "phone": "+79161234567", "display_name": "Boris",
            "password": PASSWORD}
    superseded = newcomer.post("/join", join).json_body["verification_token"]
    superseded_code = sms_outbox.code_for("+79161234567")
    started = newcomer.post("/join", join)
    confirm = {"verification_token": started.json_body["verification_token"],
               "code": sms_outbox.code_for("+79161234567")}
    # A replaced code is expired, as before: nobody has joined yet.
    replaced = newcomer.post("/join/confirm", {"verification_token": superseded,
                                               "code": superseded_code})
    assert replaced.status_code == 410 and replaced.json_body["code"] == "code_expired"

    assert newcomer.post("/join/confirm", confirm).status_code == 201
    again = newcomer.post("/join/confirm", confirm)
    assert again.status_code == 409, again.json_body
    assert again.json_body == {
        "code": "already_joined",
        "detail": "Вы уже присоединились. Войдите по номеру телефона и паролю.",
        "field": None,
    }
    assert Member.objects.count() == 2
    # Without the right code the used verification answers as any used one.
    wrong = "000000" if confirm["code"] != "000000" else "111111"
    guessed = newcomer.post("/join/confirm", {**confirm, "code": wrong})
    assert guessed.status_code == 410 and guessed.json_body["code"] == "code_expired"
    ApiClient().log_in("+79161234567")


def test_a_recovery_confirmed_again_after_a_lost_answer_says_to_log_in(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """The same retry in recovery: the password has changed, so the answer says to log
    in with it, not to start again (another SMS, and the password set a second time)."""
    phone = founder_phone(founder)
    app = ApiClient("ru")
    superseded = app.post("/recovery", {"phone": phone}).json_body["verification_token"]
    superseded_code = sms_outbox.code_for(phone)
    started = app.post("/recovery", {"phone": phone})
    confirm = {"verification_token": started.json_body["verification_token"],
               "code": sms_outbox.code_for(phone), "new_password": "a brand new passphrase"}
    replaced = app.post("/recovery/confirm", {**confirm, "verification_token": superseded,
                                              "code": superseded_code})
    assert replaced.status_code == 410 and replaced.json_body["code"] == "code_expired"

    assert app.post("/recovery/confirm", confirm).status_code == 200
    again = app.post("/recovery/confirm", confirm)
    assert again.status_code == 409, again.json_body
    assert again.json_body == {
        "code": "password_already_changed",
        "detail": "Пароль уже изменён. Войдите с новым паролем.",
        "field": None,
    }
    wrong = "000000" if confirm["code"] != "000000" else "111111"
    guessed = app.post("/recovery/confirm", {**confirm, "code": wrong})
    assert guessed.status_code == 410 and guessed.json_body["code"] == "code_expired"
    # The replaced code, sent to the same phone, now hears of the change as well.
    late = app.post("/recovery/confirm", {**confirm, "verification_token": superseded,
                                          "code": superseded_code})
    assert late.json_body["code"] == "password_already_changed"
    ApiClient().log_in(phone, "a brand new passphrase")


def test_guesses_at_a_replaced_code_are_counted_like_any(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """A replaced code answers 409 to its right code once the password has changed: the
    tries at it are counted as at a live code, so nobody can type codes at it until the
    answer changes (and learn that the number is a member's who recovered)."""
    phone = founder_phone(founder)
    stranger = ApiClient()
    superseded = stranger.post("/recovery", {"phone": phone}).json_body["verification_token"]
    superseded_code = sms_outbox.code_for(phone)
    stranger.post("/recovery", {"phone": phone})
    owner = ApiClient()
    started = owner.post("/recovery", {"phone": phone})
    assert owner.post("/recovery/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for(phone), "new_password": "a brand new passphrase",
    }).status_code == 200
    wrong = [f"{guess:06d}" for guess in range(7) if f"{guess:06d}" != superseded_code][:5]
    for guess in wrong:
        guessed = stranger.post("/recovery/confirm", {
            "verification_token": superseded, "code": guess, "new_password": "whatever it is",
        })
        assert guessed.json_body["code"] == "code_expired"
    assert PhoneVerification.objects.get(
        token_digest=verification_token_digest(superseded)
    ).failed_attempts == 5
    assert AuditEntry.objects.filter(action=AuditAction.CODE_REJECTED).count() == 5
    right = stranger.post("/recovery/confirm", {
        "verification_token": superseded, "code": superseded_code,
        "new_password": "whatever it is",
    })
    assert (right.status_code, right.json_body["code"]) == (410, "code_expired")


def test_an_api_client_marks_its_notifications_read(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """As the home page's button does: a mobile app's badge must be able to clear."""
    run_membership_flow(
        founder, sms_outbox, typed_phone="+79161234567", e164="+79161234567", language="en"
    )
    inviter = ApiClient()
    inviter.log_in(founder_phone(founder))
    def unread() -> list[bool]:
        return [notice["unread"] for notice in inviter.get("/me/notifications").json_body["items"]]

    assert unread() == [True]
    marked = inviter.post("/me/notifications/read")
    assert marked.status_code == 200, marked.json_body
    assert marked.json_body == {"marked_read": 1}
    assert unread() == [False]
    assert inviter.post("/me/notifications/read").json_body == {"marked_read": 0}
    # Only the caller's own: the newcomer's notice stays unread.
    assert Notification.objects.filter(read_at__isnull=True).count() == 1
    assert ApiClient().post("/me/notifications/read").status_code == 401


@pytest.mark.parametrize("page", [False, True])
def test_a_notice_that_came_after_the_list_was_shown_stays_unread(
    founder: Member, page: bool
) -> None:
    """The app (or the home page) marks read what it showed: a warning that came since
    (the password changed, the account moved) must not be marked read unseen."""
    from django.test import Client

    shown = notify_member(founder, NotificationKind.PASSWORD_RECOVERED)
    assert shown is not None
    if page:
        client = Client()
        client.force_login(founder)
        home = client.get("/").content.decode()
        assert f'name="up_to" value="{shown.id}"' in home
    else:
        api = ApiClient()
        api.log_in(founder_phone(founder))
        listed = api.get("/me/notifications").json_body["items"]
        assert [notice["id"] for notice in listed] == [shown.id]
    came_since = notify_member(founder, NotificationKind.PHONE_CHANGED)
    assert came_since is not None
    if page:
        assert client.post("/notifications/read/", {"up_to": str(shown.id)}).status_code == 302
    else:
        marked = api.post(f"/me/notifications/read?up_to={shown.id}")
        assert marked.json_body == {"marked_read": 1}
        assert api.post("/me/notifications/read?up_to=0").status_code == 422
    unread = Notification.objects.filter(member=founder, read_at__isnull=True)
    assert list(unread.values_list("id", flat=True)) == [came_since.id]


@pytest.mark.parametrize(("header", "chosen", "language"), [
    ("ru", None, "ru"), ("en", None, "en"), ("ru", "en", "en"),
])
def test_a_newcomer_joins_and_asks_in_the_requests_language_unless_they_choose(
    founder: Member, sms_outbox: SmsOutbox, header: str, chosen: str | None, language: str
) -> None:
    """As the pages pre-select it: the code SMS, the account and a request's invitation
    SMS are in the Accept-Language of the request that left ``language`` out."""
    from inviteonly.invitation_requests.actions import do_grant_invitation_request
    from inviteonly.invitation_requests.models import InvitationRequest
    from inviteonly.invitations.actions import do_invite_by_phone

    code_word = {"ru": "код", "en": "code"}[language]
    invitation_word = {"ru": "приглашает", "en": "invites you"}[language]
    chosen_language = {"language": chosen} if chosen else {}
    api = ApiClient(header)
    do_invite_by_phone(inviter=founder, phone="+79161234567")
    started = api.post("/join", {
        "token": sms_outbox.join_token_for("+79161234567"), "phone": "+79161234567",
        "display_name": "Boris", "password": PASSWORD, **chosen_language,
    })
    assert started.status_code == 202, started.json_body
    assert code_word in sms_outbox.last_text_to("+79161234567")
    confirmed = api.post("/join/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for("+79161234567"),
    })
    assert confirmed.status_code == 201, confirmed.json_body
    assert Member.objects.get(display_name="Boris").language == language
    asked = api.post("/invitation-requests", {
        "phone": "+79161234568", "note": "Anna knows me", **chosen_language,
    })
    assert asked.status_code == 201, asked.json_body
    do_grant_invitation_request(member=founder, request_id=InvitationRequest.objects.get().id)
    assert invitation_word in sms_outbox.last_text_to("+79161234568")
