"""Avatars: checked, decoded with Pillow, squared, shrunk and re-encoded as JPEG.

Re-encoding drops whatever the upload carried besides pixels: EXIF (a phone's GPS
position), comments, a script glued to the end of the file. Files are stored under
``MEDIA_ROOT/avatars`` with random names and served by ``views.avatar_view``.

Decoding is the costly part (a 25 MP PNG of 84 KB takes some 0.3 s and 100 MB): JPEGs,
which is what phones send, are decoded straight at 1/2 to 1/8 of their size, and
uploads are rate-limited per member (``avatar`` in RATE_LIMITS, counted before
decoding).
"""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

from inviteonly.lib.errors import ActionError
from inviteonly.social.models import Profile

if TYPE_CHECKING:  # django-stubs-ext comes with mypy, not with the site
    from django_stubs_ext import StrOrPromise

# MPO is a JPEG with more pictures appended (phone cameras write it); we keep the first.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "WEBP"}
FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.jpg$")


def avatar_directory() -> Path:
    return Path(settings.MEDIA_ROOT) / "avatars"


def _refuse(message: StrOrPromise) -> ActionError:
    return ActionError("avatar_invalid", message, field="avatar")


def reencode_avatar(data: bytes) -> bytes:
    """The stored form of an uploaded picture, or a translated refusal."""
    if len(data) > settings.AVATAR_MAX_BYTES:
        raise _refuse(
            _("The picture is too large: at most %(megabytes).1f MB.")
            % {"megabytes": settings.AVATAR_MAX_BYTES / 1024 / 1024}
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED_FORMATS:
                raise _refuse(_("Upload a JPEG, PNG, GIF or WebP picture."))
            image.seek(0)
            # A JPEG is decoded reduced (by up to 8) as far as both sides stay at least
            # the avatar's: a 50 MP photo as under 1 MP. Other formats ignore this.
            image.draft("RGB", (settings.AVATAR_SIZE, settings.AVATAR_SIZE))
            # Only the header has been read: refuse huge pictures before decoding them.
            if image.width * image.height > settings.AVATAR_MAX_SOURCE_PIXELS:
                raise _refuse(_("The picture has too many pixels."))
            # Turned as the camera meant (in place: no copy of a large picture), then
            # only pixels are kept.
            ImageOps.exif_transpose(image, in_place=True)
            picture = ImageOps.fit(
                image if image.mode == "RGB" else image.convert("RGB"),
                (settings.AVATAR_SIZE, settings.AVATAR_SIZE),
            )
    except ActionError:
        raise
    except Exception as error:
        # Whatever a damaged file trips in a decoder means the same: SyntaxError from
        # a PNG chunk or an EXIF block, struct.error from a JPEG's tags, OSError, ...
        raise _refuse(_("This file is not a picture we can read.")) from error
    output = io.BytesIO()
    picture.save(output, format="JPEG", quality=85, optimize=True)
    return output.getvalue()


def store_avatar(encoded: bytes) -> str:
    name = f"{secrets.token_urlsafe(18)}.jpg"
    directory = avatar_directory()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(encoded)
    return name


def delete_avatar_file(name: str) -> None:
    if name and FILE_NAME.match(name):
        (avatar_directory() / name).unlink(missing_ok=True)


def avatar_url(profile: Profile | None) -> str | None:
    return avatar_url_of(profile.avatar if profile else None)


def avatar_url_of(name: str | None) -> str | None:
    return reverse("avatar", args=[name]) if name else None
