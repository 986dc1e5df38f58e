"""The member: one account per verified mobile number."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models, transaction
from django.db.models import Q
from django.db.models.query_utils import DeferredAttribute
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock, tree_paths
from inviteonly.lib.queries import update, update_later

if TYPE_CHECKING:
    from inviteonly.accounts.sessions import SessionStore

JOIN_BY_PHONE = (
    "Members join with a verified phone number, not through createsuperuser: run "
    "`inviteonly founder` and open the printed link to become a founder."
)


def shown_name(stored: str) -> str:
    """The one place a member's name is shown from: a member who left the network keeps
    no name (``do_leave_network`` stores an empty one), and is shown everywhere, in the
    reader's language, as "Former member". Model instances go through
    ``DisplayNameField``; the few reads in hand-written SQL call this on the column."""
    return stored or gettext("Former member")


class _ShownNameAttribute(DeferredAttribute):
    # A data descriptor (it has __set__), so that reads come here even once the value
    # sits in the instance's __dict__, where Django keeps it.
    def __get__(self, instance: Any, cls: Any = None) -> Any:
        value = super().__get__(instance, cls)
        if instance is None:
            return value
        return shown_name(value)

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class DisplayNameField(models.CharField):
    """``display_name``: reads through ``shown_name``; stores what was set (an empty
    name stays empty: ``pre_save`` reads the instance's own value, not the shown one),
    and serializes it (``value_from_object``)."""

    descriptor_class = _ShownNameAttribute

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return model_instance.__dict__.get(self.attname)

    def value_from_object(self, obj: models.Model) -> Any:
        # What serializers (dumpdata) and model forms' initial values read: the stored
        # name, not the shown one, which loaddata would store as a name.
        return obj.__dict__.get(self.attname)


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
        # Left the network (accounts.actions.do_leave_network): the row stays, a node
        # of the invitation tree, with nothing of the person left in it.
        LEFT = "left", _("Left the network")

    display_name = DisplayNameField(_("display name"), max_length=settings.DISPLAY_NAME_MAX_LENGTH)
    phone_blind_index = models.CharField(max_length=64, unique=True, editable=False)
    phone_ciphertext = models.BinaryField(editable=False)
    phone_masked = models.CharField(_("phone number"), max_length=32, editable=False)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    # The zone the member reads times in (an IANA name, lib.time_zones); empty: the
    # site's (SITE_TIME_ZONE), which then follows the site's setting.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, default="")
    invited_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        # Its own index would repeat the first column of member_invitees_status and
        # member_invitees_in_order (Meta.indexes), which serve every lookup on it.
        db_index=False,
        related_name="invitees",
        verbose_name=_("invited by"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    joined_at = models.DateTimeField(_("joined"), default=clock.now)
    # When the member left the network; their number's blind index is held until
    # LEFT_NUMBER_HOLD_DAYS after it (``sweep``: accounts.actions.release_left_numbers).
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    # The invitation tree beside ``invited_by`` (see invitations/tree.py): the ids from
    # the root down to this member, 4 bytes each, big-endian. The first
    # TREE_PATH_INDEXED_BYTES live in ``tree_path`` (indexed with status, so a branch is
    # one range scan); deeper levels spill into ``tree_path_overflow``, which keeps
    # every index entry under PostgreSQL's B-tree row limit at any depth.
    tree_path = models.BinaryField(default=b"", editable=False)
    tree_path_overflow = models.BinaryField(default=b"", editable=False)
    # The member's own choice: leave me out of the public tree page.
    hidden_from_public_tree = models.BooleanField(_("hidden from the public tree"), default=False)
    # Operators who may open the Django admin.
    is_staff = models.BooleanField(_("staff"), default=False)

    objects: ClassVar[MemberManager] = MemberManager()

    USERNAME_FIELD = "phone_blind_index"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        indexes = [
            # A branch (and its counts by status) is one range scan on this index.
            models.Index(fields=["tree_path", "status"], name="member_tree_path_status"),
            # How a member's invitees turned out (the invite-rights rule): both counts
            # from the index alone, however many invitees.
            models.Index(fields=["invited_by", "status"], name="member_invitees_status"),
            # A member's invitees oldest first, a page after a cursor (tree.members_page):
            # the page is read off this index, not sorted out of every invitee (on
            # PostgreSQL the two above are not in id order within an inviter).
            models.Index(fields=["invited_by", "id"], name="member_invitees_in_order"),
            # Members nobody invited, oldest first (tree.roots, the public tree's and
            # the branch browser's first page): PostgreSQL does not read the index above
            # in id order for ``invited_by IS NULL``, and in open registration roots can
            # be every member.
            models.Index(
                fields=["id"], condition=Q(invited_by__isnull=True), name="member_roots_in_order"
            ),
            # The admin's member list, newest first (MemberAdmin.ordering, and the id
            # the admin adds after it): a page is the index's first entries, not a sort
            # of every member.
            models.Index(fields=["-joined_at", "-id"], name="member_joined_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.phone_masked})"

    # Django's admin greets the operator by these; the username is the blind index.
    def get_short_name(self) -> str:
        return self.display_name

    def get_full_name(self) -> str:
        return self.display_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        placing = self._state.adding and not self.tree_path
        super().save(*args, **kwargs)
        if placing:
            self.place_in_tree()

    def place_in_tree(self) -> None:
        """Write the member's path in the invitation tree. It holds the member's own id,
        known only after the INSERT; members never move, so this runs once: from save(),
        or from whoever inserts a member otherwise (a join, with lib.queries.insert; in
        its ``written_together`` block the UPDATE goes with the join's last writes)."""
        parent_path = b""
        if self.invited_by_id is not None:
            inviter = self.invited_by
            assert inviter is not None
            parent_path = inviter.full_tree_path
        stored = tree_paths.split_path(tree_paths.child_path(parent_path, self.pk))
        update_later(
            Member, {"tree_path": stored.indexed, "tree_path_overflow": stored.overflow},
            where="id = %s", params=[self.pk],
        )
        self.tree_path, self.tree_path_overflow = stored.indexed, stored.overflow

    @property
    def full_tree_path(self) -> bytes:
        return bytes(self.tree_path) + bytes(self.tree_path_overflow)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        # Django's login machinery refuses inactive accounts: banned members, and those
        # who left the network.
        return self.status not in (self.Status.BANNED, self.Status.LEFT)

    def check_password(self, raw_password: str) -> bool:
        """Django's check, but a hash due for an upgrade (an older hasher's or older
        parameters') is stored anew only if the row still holds the hash checked: a
        password recovered or changed meanwhile is not overwritten with the one it
        replaced, typed by whoever still knew it. An upgrade keeps the member's other
        sessions logged in (``sessions.sign_sessions_anew``)."""
        checked = self.password

        def upgrade(raw: str) -> None:
            from inviteonly.accounts.sessions import sign_sessions_anew

            upgraded = make_password(raw)
            # The session auth hash derives from the stored hash: the member's sessions
            # signed with the old one's are signed anew in the same transaction, or the
            # upgrade would log them out everywhere else (it is no password change).
            signed_with = [self.get_session_auth_hash(), *self.get_session_auth_fallback_hash()]
            with transaction.atomic():
                if update(Member, {"password": upgraded}, where="id = %s AND password = %s",
                          params=[self.pk, checked]) == 1:
                    self.password = upgraded
                    sign_sessions_anew(self, signed_with=signed_with)

        return check_password(raw_password, checked, setter=upgrade)

    @property
    def invites_without_limit(self) -> bool:
        return self.role in (self.Role.FOUNDER, self.Role.MODERATOR)

    @property
    def is_operator(self) -> bool:
        """An administrator (founders are) in good standing: changes roles and statuses
        in the admin. A founder another quarantined is none until it is lifted."""
        return self.is_superuser and self.status == self.Status.ACTIVE


class SessionKind(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", _("API")


class MemberSession(AbstractBaseSession):
    """A session, web or API. Its key is stored only as an HMAC (accounts/sessions.py);
    the member it is logged in as sits beside its data, so that a request finds both
    in one query (``sessions.session_and_member``) and a member's sessions can be found.

    What the member is shown of it (the sessions page): its kind, when it started and
    was last used (``SESSION_LAST_SEEN_INTERVAL``), the browser and system its login's
    User-Agent named and the login address's network, masked (lib/clients.py). Sessions
    stored before these columns have them empty."""

    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions"
    )
    # Empty for rows stored before these columns, or by code that predates them (a
    # migration moving older sessions in, hence the database's default too): they have
    # nothing to show there.
    kind = models.CharField(
        _("kind"), max_length=8, choices=SessionKind.choices, blank=True, default="", db_default=""
    )
    created_at = models.DateTimeField(_("started"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last used"), null=True, blank=True)
    browser = models.CharField(_("browser"), max_length=32, blank=True, default="", db_default="")
    system = models.CharField(_("system"), max_length=32, blank=True, default="", db_default="")
    network = models.CharField(_("network"), max_length=43, blank=True, default="", db_default="")

    class Meta:
        db_table = "accounts_member_session"

    @classmethod
    def get_session_store_class(cls) -> type[SessionStore]:
        from inviteonly.accounts.sessions import SessionStore

        return SessionStore
