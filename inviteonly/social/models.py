"""Profiles, friendships, blocks, wall posts and private messages.

Wall posts, messages and profiles are what members can report (``REPORTABLE``): each
has a stable id and an author, and removing one is a delete of its row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class Audience(models.TextChoices):
    EVERYONE = "everyone", _("Everyone")
    FRIENDS = "friends", _("Friends only")


class Profile(models.Model):
    """What a member tells about themselves and whom they let in. A member without a
    row has the defaults (``profile_of`` in queries.py)."""

    member = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
        related_name="profile",
    )
    about = models.TextField(_("about"), max_length=settings.PROFILE_ABOUT_MAX_LENGTH, blank=True)
    # A file name under MEDIA_ROOT/avatars (re-encoded JPEG, metadata stripped), or "".
    avatar = models.CharField(max_length=100, blank=True)
    wall_audience = models.CharField(
        _("who may see my wall"), max_length=16, choices=Audience.choices,
        default=Audience.EVERYONE,
    )
    message_audience = models.CharField(
        _("who may write to me"), max_length=16, choices=Audience.choices,
        default=Audience.EVERYONE,
    )
    # Off by default: whoever knows a number must not learn that it has an account.
    findable_by_phone = models.BooleanField(_("findable by my phone number"), default=False)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return f"profile of {self.member_id}"


class Friendship(models.Model):
    """One direction of a friendship; a friendship is always two rows (A→B and B→A),
    so "friends of X" and "mutual friends" read one index."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friendships"
    )
    friend = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "friend"], name="friendship_once"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ↔ {self.friend_id}"


class FriendRequest(models.Model):
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friend_requests_sent"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        related_name="friend_requests_received",
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender", "recipient"], name="friend_request_once"),
        ]

    def __str__(self) -> str:
        return f"{self.sender_id} → {self.recipient_id}"


class Block(models.Model):
    """``blocker`` no longer hears from ``blocked``: no messages, no wall posts, no
    friend requests, in either direction."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks"
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_once"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class WallPost(models.Model):
    wall_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wall_posts"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="authored_posts"
    )
    text = models.TextField(max_length=settings.WALL_POST_MAX_LENGTH)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("wall post")
        verbose_name_plural = _("wall posts")
        # A wall, newest first, a page at a time (keyset on id).
        indexes = [models.Index(fields=["wall_owner", "-id"], name="wall_newest")]

    def __str__(self) -> str:
        return f"post {self.id} on {self.wall_owner_id}"


class Conversation(models.Model):
    """One conversation per pair of members."""

    created_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"conversation {self.id}"


class Participant(models.Model):
    """One member's side of a conversation: their inbox row. ``unread_count`` and
    ``last_message`` are kept by the actions so the inbox is one indexed read."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    other = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_message_at = models.DateTimeField(default=clock.now)
    unread_count = models.PositiveIntegerField(default=0)
    # The newest message of the other member this member has read (0: none).
    last_read_message_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "other"], name="participant_once"),
        ]
        # The inbox: a member's conversations, most recent first.
        indexes = [models.Index(fields=["member", "-last_message_at"], name="inbox_recent")]

    def __str__(self) -> str:
        return f"{self.member_id} ↔ {self.other_id}"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages_sent"
    )
    text = models.TextField(max_length=settings.MESSAGE_MAX_LENGTH)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        # A conversation, newest first, a page at a time (keyset on id).
        indexes = [models.Index(fields=["conversation", "-id"], name="conversation_newest")]

    def __str__(self) -> str:
        return f"message {self.id}"


class IdempotentOperation(models.TextChoices):
    WALL_POST = "wall_post", _("wall post")
    MESSAGE = "message", _("message")


class IdempotencyKey(models.Model):
    """A member's key for one wall post or message (the API's Idempotency-Key header, a
    page form's submission key) and what that request wrote: the same key again within
    ``IDEMPOTENCY_KEY_WINDOW`` is answered with that row instead of a second one
    (``social.idempotency``). Neither the key nor the request is stored, only their
    ``token_digest``s; ``sweep`` deletes keys past the window."""

    # No index of its own: idempotency_key_once begins with it.
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+", db_index=False)
    operation = models.CharField(max_length=16, choices=IdempotentOperation.choices)
    key_digest = models.CharField(max_length=64)
    # What the request asked (where to, which text): the key sent with another request
    # is refused, not answered with a row it did not ask for.
    request_digest = models.CharField(max_length=64)
    # The post's or message's id; no foreign key: a deleted one leaves the key used.
    result_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            # What makes two requests at once with one key write one row: the second's
            # INSERT waits for the first's transaction, then fails (social.idempotency).
            models.UniqueConstraint(fields=["member", "operation", "key_digest"],
                                    name="idempotency_key_once"),
        ]
        # The sweep's range.
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return f"{self.operation} key of {self.member_id}"


# What the moderation layer may attach reports to.
REPORTABLE = (WallPost, Message, Profile)
