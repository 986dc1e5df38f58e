"""/api/members/{id} and /api/profile: profiles, privacy settings, avatars, finding a
member by phone number."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import File, Path, Router, Schema
from ninja.files import UploadedFile
from pydantic import Field

from inviteonly.accounts.models import Member
from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.schemas import ERRORS, RATE_LIMITED_ERRORS, PhoneField, RegionField
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.social.actions import do_remove_avatar, do_set_avatar, do_update_profile
from inviteonly.social.avatars import avatar_url
from inviteonly.social.models import Audience, Profile
from inviteonly.social.queries import access_member_by_phone, profile_page
from inviteonly.social.rules import profile_of

router = Router(auth=session_bearer)

# Ids in paths and bodies: positive and within a database integer, as in page URLs.
MemberIdPath = Path(..., ge=1, le=MAX_ROW_ID)
MemberIdField = Field(ge=1, le=MAX_ROW_ID)


class MemberCard(Schema):
    """A member in a list: who, and their avatar."""

    id: int
    display_name: str
    avatar_url: str | None

    @staticmethod
    def of(member: Member) -> MemberCard:
        return MemberCard(id=member.id, display_name=member.display_name,
                          avatar_url=avatar_url(profile_of(member)))


class RelationOut(Schema):
    is_self: bool
    friends: bool
    request_sent: bool
    request_received: bool
    blocked_by_me: bool
    blocks_me: bool
    may_see_wall: bool
    may_post: bool
    may_message: bool


class ProfileOut(Schema):
    member: MemberCard
    # Null while the member blocks me (relation.blocks_me): their name and avatar only.
    about: str | None
    friend_count: int | None
    mutual_friend_count: int | None
    relation: RelationOut


class MyProfileOut(Schema):
    member: MemberCard
    about: str
    wall_audience: Audience
    message_audience: Audience
    findable_by_phone: bool


class ProfileIn(Schema):
    """What to change: a field left out (or null) keeps its value."""

    about: str | None = Field(default=None, max_length=settings.PROFILE_ABOUT_MAX_LENGTH)
    wall_audience: Audience | None = None
    message_audience: Audience | None = None
    findable_by_phone: bool | None = None


class FindIn(Schema):
    phone: str = PhoneField
    region: str | None = RegionField


def my_profile_out(member: Member, profile: Profile) -> MyProfileOut:
    return MyProfileOut(
        member=MemberCard(id=member.id, display_name=member.display_name,
                          avatar_url=avatar_url(profile)),
        about=profile.about,
        wall_audience=Audience(profile.wall_audience),
        message_audience=Audience(profile.message_audience),
        findable_by_phone=profile.findable_by_phone,
    )


@router.get("/members/{member_id}", response={200: ProfileOut, **ERRORS},
            summary="A member's profile, as I see it")
def get_profile(request: HttpRequest, member_id: int = MemberIdPath) -> ProfileOut:
    page = profile_page(authenticated_member(request), member_id)
    return ProfileOut(
        member=MemberCard(id=page.member.id, display_name=page.member.display_name,
                          avatar_url=avatar_url(page.profile)),
        about=page.profile.about if page.relation.may_see_profile else None,
        friend_count=page.friend_count,
        mutual_friend_count=page.mutual_friend_count,
        relation=RelationOut(**vars(page.relation)),
    )


@router.get("/profile", response={200: MyProfileOut, **ERRORS},
            summary="My profile and privacy settings")
def get_my_profile(request: HttpRequest) -> MyProfileOut:
    member = authenticated_member(request)
    return my_profile_out(member, profile_of(member))


@router.put("/profile", response={200: MyProfileOut, **ERRORS},
            summary="Change my profile and privacy settings")
def put_my_profile(request: HttpRequest, payload: ProfileIn) -> MyProfileOut:
    """Changes the fields given; those left out (or null) keep their values, so
    `{"about": "…"}` leaves the privacy settings as they were."""
    member = authenticated_member(request)
    profile = do_update_profile(
        member=member, about=payload.about, wall_audience=payload.wall_audience,
        message_audience=payload.message_audience,
        findable_by_phone=payload.findable_by_phone,
    )
    return my_profile_out(member, profile)


@router.post("/profile/avatar", response={200: MyProfileOut, **RATE_LIMITED_ERRORS},
             summary="Upload my avatar (multipart, field 'avatar')")
def post_avatar(request: HttpRequest, avatar: File[UploadedFile]) -> MyProfileOut:
    """JPEG, PNG, GIF or WebP up to AVATAR_MAX_BYTES; stored re-encoded as a square
    JPEG without metadata. Rate-limited per member (RATE_LIMITS["avatar"])."""
    member = authenticated_member(request)
    if avatar.size is not None and avatar.size > settings.AVATAR_MAX_BYTES:
        data = b"\0" * (settings.AVATAR_MAX_BYTES + 1)  # refused by size, not read
    else:
        data = avatar.read(settings.AVATAR_MAX_BYTES + 1)
    return my_profile_out(member, do_set_avatar(member=member, data=data))


@router.delete("/profile/avatar", response={200: MyProfileOut, **ERRORS},
               summary="Remove my avatar")
def delete_avatar(request: HttpRequest) -> MyProfileOut:
    member = authenticated_member(request)
    return my_profile_out(member, do_remove_avatar(member=member))


@router.post("/find-by-phone", response={200: MemberCard, **RATE_LIMITED_ERRORS},
             summary="Find a member by phone number (only those who allow it)")
def find_by_phone(request: HttpRequest, payload: FindIn) -> MemberCard:
    """A member who did not choose to be findable gets the same 404 as a number
    without an account."""
    found = access_member_by_phone(
        authenticated_member(request), payload.phone, region_hint=payload.region
    )
    return MemberCard.of(found)
