"""Pages: profiles with walls, editing my profile, friends, the inbox, conversations;
and the small POST forms that act on them. Each parses, calls one action, redirects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from inviteonly.accounts.forms import TimeZoneForm
from inviteonly.accounts.views import signed_in_member
from inviteonly.lib.errors import ActionError
from inviteonly.lib.web import client_ip, render_form_page, row_id, run_form_action, safe_next
from inviteonly.social import actions
from inviteonly.social.avatars import FILE_NAME, avatar_directory
from inviteonly.social.forms import (
    AvatarForm,
    FindByPhoneForm,
    MessageForm,
    ProfileForm,
    WallPostForm,
)
from inviteonly.social.idempotency import new_submission_key
from inviteonly.social.models import Message
from inviteonly.social.queries import (
    FriendCursor,
    InboxCursor,
    access_member_by_phone,
    blocked_members,
    conversation_with,
    friends_of,
    friends_page,
    inbox_before,
    inbox_of,
    incoming_friend_requests,
    mutual_friends,
    outgoing_friend_requests,
    page_before,
    page_size,
    profile_page,
    visible_friends_owner,
    wall_posts,
)
from inviteonly.social.rules import profile_of, quarantine_of


def _keyset(
    request: HttpRequest, queryset: Any, *, cursor: str = "before"
) -> tuple[list[Any], int | None]:
    """One page of a newest-first list (?before=<id>, or the ``cursor`` parameter a
    page of several lists gives each) and the next page's cursor."""
    limit = page_size(None)
    return page_before(queryset, row_id(request.GET.get(cursor)), limit)


def _friends_page(request: HttpRequest, friendships: Any) -> tuple[list[Any], str | None]:
    """One page of a friend list by name (?after=<cursor>; anything else: the first
    page) and the next page's cursor."""
    rows, next_after = friends_page(
        friendships, after=FriendCursor.parse(request.GET.get("after")), limit=page_size(None)
    )
    return rows, None if next_after is None else str(next_after)


def _back(request: HttpRequest, default: str) -> HttpResponse:
    return redirect(safe_next(request) or default)


def _act(
    request: HttpRequest, action: Callable[[], object], *, done: str | None, default: str
) -> HttpResponse:
    """Run one action for a POST form; show its refusal or ``done``; go back."""
    try:
        action()
    except ActionError as error:
        messages.error(request, str(error.message))
    else:
        if done:
            messages.success(request, done)
    return _back(request, default)


def _sent_already(form: WallPostForm | MessageForm, error: ActionError) -> ActionError:
    """The refusal a page shows. A sent form that the browser's back button brought
    back, key and all, and that was changed is another request, which its key refuses:
    it is shown again with its text and a new key, so that sending it again sends it."""
    if error.code not in ("idempotency_key_reused", "idempotency_key_used"):
        return error
    form.data = {**dict(form.data.items()), "submission_key": new_submission_key()}
    return ActionError(
        "form_already_sent",
        _("This form was already sent. To send what it holds now as well, send it again."),
        status=409,
    )


def _refused(request: HttpRequest, error: ActionError) -> HttpResponse:
    return render(request, "social/refused.html", {"refusal": error.message},
                  status=error.status)


# ---------------------------------------------------------------------------
# Profiles and walls
# ---------------------------------------------------------------------------


def _profile_page(request: HttpRequest, member_id: int, *, form: WallPostForm) -> HttpResponse:
    viewer = signed_in_member(request)
    try:
        page = profile_page(viewer, member_id)
    except ActionError as error:
        return _refused(request, error)
    posts: list[Any] = []
    next_before = None
    if page.relation.may_see_wall:
        posts, next_before = _keyset(request, wall_posts(page.member))
    return render_form_page(request, "social/profile.html", {
        "page": page, "posts": posts, "next_before": next_before,
        # Said instead of the post form and "Write a message" (Relation.may_post).
        "quarantine": quarantine_of(viewer),
    }, form=form)


@login_required
def profile_view(request: HttpRequest, member_id: int) -> HttpResponse:
    return _profile_page(request, member_id, form=WallPostForm())


@login_required
@require_POST
def post_view(request: HttpRequest, member_id: int) -> HttpResponse:
    form = WallPostForm(request.POST)
    default = reverse("member_profile", args=[member_id])
    if not form.is_valid():  # nothing typed: the action says what else is wrong
        messages.error(request, _("Write something first."))
        return redirect(default)
    try:
        actions.do_post_on_wall(
            author=signed_in_member(request), wall_owner_id=member_id,
            text=form.cleaned_data["text"], ip_address=client_ip(request),
            idempotency_key=form.cleaned_data["submission_key"] or None,
        )
    except ActionError as refusal:
        # The wall again, with the text in its box: a refusal (a link, too many posts)
        # must not throw away what was written. A refusal of the text is by its box, as
        # on every form; another (this wall is not open to the author, too many posts)
        # at the top, where it shows even if the box does not.
        error = _sent_already(form, refusal)
        if error.field == "text":
            form.add_error("text", str(error.message))
        else:
            messages.error(request, str(error.message))
        form.refusal = error  # type: ignore[attr-defined]
        response = _profile_page(request, member_id, form=form)
        if response.status_code == 200:
            response.status_code = error.status
        return response
    return redirect(default)


@login_required
@require_POST
def delete_post_view(request: HttpRequest, post_id: int) -> HttpResponse:
    return _act(request, lambda: actions.do_delete_wall_post(
        member=signed_in_member(request), post_id=post_id,
    ), done=_("The post was deleted."), default=reverse("home"))


@login_required
def edit_profile_view(request: HttpRequest) -> HttpResponse:
    member = signed_in_member(request)
    profile = profile_of(member)
    form = ProfileForm(request.POST or None, initial={
        "about": profile.about, "wall_audience": profile.wall_audience,
        "message_audience": profile.message_audience,
        "findable_by_phone": profile.findable_by_phone,
    })
    saved = run_form_action(request, form, lambda data: actions.do_update_profile(
        member=member, about=data["about"], wall_audience=data["wall_audience"],
        message_audience=data["message_audience"],
        findable_by_phone=data["findable_by_phone"],
    ))
    if saved is not None:
        messages.success(request, _("Your profile was saved."))
        return redirect("edit_profile")
    return render_form_page(request, "social/edit_profile.html", {
        "profile": profile, "avatar_form": AvatarForm(),
        "time_zone_form": TimeZoneForm(initial={"time_zone": member.time_zone}),
    }, form=form)


@login_required
@require_POST
def avatar_upload_view(request: HttpRequest) -> HttpResponse:
    member = signed_in_member(request)
    form = AvatarForm(request.POST, request.FILES)
    if request.POST.get("remove"):
        return _act(request, lambda: actions.do_remove_avatar(member=member),
                    done=_("Your avatar was removed."), default=reverse("edit_profile"))
    if not form.is_valid():
        messages.error(request, _("Choose a picture to upload."))
        return redirect("edit_profile")
    upload = form.cleaned_data["avatar"]
    return _act(request, lambda: actions.do_set_avatar(
        member=member, data=upload.read(settings.AVATAR_MAX_BYTES + 1),
    ), done=_("Your avatar was saved."), default=reverse("edit_profile"))


@require_GET
def avatar_view(request: HttpRequest, name: str) -> HttpResponseBase:
    """Avatars are public: the names are random, the pictures re-encoded."""
    if not FILE_NAME.match(name):
        raise Http404
    path = Path(avatar_directory()) / name
    if not path.is_file():
        raise Http404
    response = FileResponse(path.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


# ---------------------------------------------------------------------------
# Friends and blocks
# ---------------------------------------------------------------------------


@login_required
def friends_view(request: HttpRequest) -> HttpResponse:
    member = signed_in_member(request)
    friends, next_after = _friends_page(request, friends_of(member))
    form = FindByPhoneForm(request.POST or None)
    found = run_form_action(request, form, lambda data: access_member_by_phone(
        member, data["phone"]))
    if found is not None:
        return redirect("member_profile", member_id=found.id)
    incoming, incoming_next_before = _keyset(
        request, incoming_friend_requests(member), cursor="incoming_before")
    outgoing, outgoing_next_before = _keyset(
        request, outgoing_friend_requests(member), cursor="outgoing_before")
    blocked, blocked_next_before = _keyset(
        request, blocked_members(member), cursor="blocked_before")
    return render_form_page(request, "social/friends.html", {
        "friends": friends, "next_after": next_after,
        "incoming": incoming, "incoming_next_before": incoming_next_before,
        "outgoing": outgoing, "outgoing_next_before": outgoing_next_before,
        "blocked": blocked, "blocked_next_before": blocked_next_before,
        # Said instead of the "Write" links (Relation.may_message).
        "quarantine": quarantine_of(member),
    }, form=form)


@login_required
def member_friends_view(request: HttpRequest, member_id: int) -> HttpResponse:
    viewer = signed_in_member(request)
    try:
        member = visible_friends_owner(viewer, member_id)
    except ActionError as error:
        return _refused(request, error)
    mutual = request.GET.get("mutual") == "1"
    rows = mutual_friends(viewer, member) if mutual else friends_of(member)
    friends, next_after = _friends_page(request, rows)
    return render(request, "social/member_friends.html", {
        "member": member, "friends": friends, "next_after": next_after, "mutual": mutual,
    })


def _friend_action(name: str) -> Callable[[HttpRequest, int], HttpResponse]:
    """A POST view running the friend or block action ``name`` on the member in the URL;
    the profile then shows the new state."""
    action = getattr(actions, name)
    argument = {
        "do_send_friend_request": "recipient_id", "do_accept_friend_request": "sender_id",
        "do_decline_friend_request": "sender_id", "do_cancel_friend_request": "recipient_id",
        "do_remove_friend": "friend_id", "do_block_member": "blocked_id",
        "do_unblock_member": "blocked_id",
    }[name]

    @login_required
    @require_POST
    def view(request: HttpRequest, member_id: int) -> HttpResponse:
        return _act(request, lambda: action(member=signed_in_member(request),
                                            **{argument: member_id}),
                    done=None,
                    default=reverse("member_profile", args=[member_id]))

    return view


send_friend_request_view = _friend_action("do_send_friend_request")
accept_friend_request_view = _friend_action("do_accept_friend_request")
decline_friend_request_view = _friend_action("do_decline_friend_request")
cancel_friend_request_view = _friend_action("do_cancel_friend_request")
remove_friend_view = _friend_action("do_remove_friend")
block_view = _friend_action("do_block_member")
unblock_view = _friend_action("do_unblock_member")


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


@login_required
def inbox_view(request: HttpRequest) -> HttpResponse:
    """The inbox a page at a time (?before=<cursor>; anything else: the first page)."""
    limit = page_size(None)
    rows = list(inbox_before(inbox_of(signed_in_member(request)),
                             InboxCursor.parse(request.GET.get("before")))[:limit + 1])
    next_before = str(InboxCursor.after(rows[limit - 1])) if len(rows) > limit else None
    return render(request, "social/inbox.html", {"rows": rows[:limit],
                                                 "next_before": next_before})


@login_required
def conversation_view(request: HttpRequest, member_id: int) -> HttpResponse:
    member = signed_in_member(request)
    try:
        conversation = conversation_with(member, member_id)
    except ActionError as error:
        return _refused(request, error)
    rows, next_before = _keyset(request, conversation.messages)
    form = MessageForm(request.POST or None)

    def send(data: dict[str, Any]) -> Message:
        try:
            return actions.do_send_message(
                sender=member, recipient_id=member_id, text=data["text"],
                ip_address=client_ip(request), idempotency_key=data["submission_key"] or None,
            )
        except ActionError as error:
            raise _sent_already(form, error) from None

    sent = run_form_action(request, form, send)
    if sent is not None:
        return redirect("conversation", member_id=member_id)
    return render_form_page(request, "social/conversation.html", {
        # Newest first from the database; shown oldest to newest, like a chat.
        "conversation": conversation, "rows": rows[::-1], "next_before": next_before,
        "member": member,
        # Said instead of the message form (Relation.may_message).
        "quarantine": quarantine_of(member),
    }, form=form)


@login_required
@require_POST
def mark_read_view(request: HttpRequest, member_id: int) -> HttpResponse:
    # The newest message the page showed (its form sends it): one that came since
    # stays unread.
    return _act(request, lambda: actions.do_mark_conversation_read(
        member=signed_in_member(request), other_id=member_id,
        up_to=row_id(request.POST.get("up_to")),
    ), done=None, default=reverse("conversation", args=[member_id]))
