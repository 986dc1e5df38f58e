"""Avatar uploads that Pillow cannot decode are refused as "not a picture" (they used
to answer 500), and phone-camera JPEGs with the Multi-Picture extension are accepted."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from inviteonly.social.avatars import reencode_avatar
from tests.conftest import ApiClient
from tests.social_helpers import member_with_api

pytestmark = pytest.mark.django_db


def _encoded(picture: Image.Image, image_format: str, **options: object) -> bytes:
    output = io.BytesIO()
    picture.save(output, format=image_format, **options)
    return output.getvalue()


def _with_exif(image_format: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turned, so exif_transpose reads the block
    exif[0x010F] = "Cam"  # Make
    return _encoded(Image.new("RGB", (64, 48), (10, 200, 30)), image_format, exif=exif)


def _replaced(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, f"{old!r} is not in the encoded picture: the corruption missed"
    return data.replace(old, new, 1)


def _png_with_a_broken_chunk() -> bytes:
    """Image data cut short, followed by a chunk header that is no chunk type: Pillow
    raises SyntaxError("broken PNG file") while decoding."""
    noise = Image.frombytes("RGB", (64, 48), bytes(range(256)) * 36)
    png = _encoded(noise, "PNG")
    start = png.index(b"IDAT") - 4
    length = int.from_bytes(png[start:start + 4], "big")
    half = png[start + 8:start + 8 + length // 2]
    return (png[:start] + len(half).to_bytes(4, "big") + b"IDAT" + half
            + b"\x00" * 4  # the chunk's CRC
            + b"\x00\x00\x00\x10" + b"\x00\x01\x02\x03" + b"\x00" * 32)


CORRUPT = [
    pytest.param(_png_with_a_broken_chunk, id="png-broken-chunk"),
    # An EXIF block whose TIFF header is damaged: "not a TIFF file" from exif_transpose.
    pytest.param(lambda: _replaced(_with_exif("WEBP"), b"MM\x00*", b"XM\x00*"),
                 id="webp-broken-exif"),
    # The Make tag renumbered to ExtraSamples, which must hold numbers: struct.error.
    pytest.param(lambda: _replaced(_with_exif("JPEG"), b"\x01\x0f\x00\x02", b"\x01\x52\x00\x02"),
                 id="jpeg-exif-tag-of-the-wrong-type"),
]


def _upload(api: ApiClient, data: bytes, name: str) -> Any:
    return api.client.post(
        "/api/profile/avatar", {"avatar": SimpleUploadedFile(name, data)},
        headers={"Authorization": f"Bearer {api.token}"},
    )


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("corrupt", CORRUPT)
def test_a_corrupt_picture_is_refused_as_not_a_picture(
    corrupt: Callable[[], bytes], language: str
) -> None:
    _anna, api = member_with_api("Anna", language=language)
    answer = _upload(api, corrupt(), "me.png")
    assert answer.status_code == 400, answer.content
    assert (answer.json()["code"], answer.json()["field"]) == ("avatar_invalid", "avatar")
    words = {"en": "not a picture we can read", "ru": "не картинка"}[language]
    assert words in answer.json()["detail"]


def test_a_jpeg_with_the_multi_picture_extension_is_accepted_as_its_first_frame() -> None:
    first = Image.new("RGB", (640, 480), (220, 20, 20))
    second = Image.new("RGB", (640, 480), (20, 20, 220))
    data = _encoded(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    _anna, api = member_with_api("Anna")
    answer = _upload(api, data, "camera.jpg")
    assert answer.status_code == 200, answer.content
    stored = Image.open(io.BytesIO(reencode_avatar(data)))
    assert stored.format == "JPEG" and stored.size == (256, 256)
    assert stored.convert("RGB").getpixel((128, 128)) == pytest.approx((220, 20, 20), abs=30)


def _red_square_on_blue(size: tuple[int, int]) -> Image.Image:
    picture = Image.new("RGB", size, (20, 20, 220))
    width, height = size
    side = min(size) // 2
    picture.paste((220, 20, 20), ((width - side) // 2, (height - side) // 2,
                                  (width + side) // 2, (height + side) // 2))
    return picture


@pytest.mark.parametrize("size", [(4000, 3000), (8160, 6120)], ids=["12MP", "50MP"])
def test_a_phone_photo_is_accepted_and_decoded_at_a_reduced_size(
    size: tuple[int, int], settings: Any
) -> None:
    """A JPEG is decoded straight at 1/2 to 1/8 of its size, just large enough for the
    avatar, so a 50 MP photo costs what a 1 MP one does, and AVATAR_MAX_SOURCE_PIXELS
    counts the pixels decoded (a PNG has no such shortcut, see below)."""
    data = _encoded(_red_square_on_blue(size), "JPEG", quality=70)
    assert len(data) < settings.AVATAR_MAX_BYTES
    settings.AVATAR_MAX_SOURCE_PIXELS = 1_000_000  # the largest picture decoded
    _anna, api = member_with_api("Anna")
    answer = _upload(api, data, "photo.jpg")
    assert answer.status_code == 200, answer.content
    stored = Image.open(io.BytesIO(reencode_avatar(data)))
    assert stored.format == "JPEG" and stored.size == (256, 256)
    # The middle of the photo, squared: red in the middle, blue at the left and right.
    assert stored.getpixel((128, 128)) == pytest.approx((220, 20, 20), abs=30)
    assert stored.getpixel((3, 128)) == pytest.approx((20, 20, 220), abs=30)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_picture_that_cannot_be_decoded_small_is_refused_past_the_pixel_limit(
    language: str, settings: Any
) -> None:
    data = _encoded(Image.new("RGB", (2000, 1000), (1, 2, 3)), "PNG")
    settings.AVATAR_MAX_SOURCE_PIXELS = 1_000_000
    _anna, api = member_with_api("Anna", language=language)
    answer = _upload(api, data, "big.png")
    assert answer.status_code == 400, answer.content
    assert answer.json()["detail"] == {
        "en": "The picture has too many pixels.", "ru": "В картинке слишком много пикселей.",
    }[language]
