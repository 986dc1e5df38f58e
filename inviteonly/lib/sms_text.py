"""SMS encodings, segments and their counts.

A text that fits the GSM 03.38 alphabet travels as GSM-7: 160 characters in one
segment, 153 per segment when concatenated, characters of the extension table
counting twice. Anything else (Cyrillic, most emoji) travels as UCS-2: 70 UTF-16
units in one segment, 67 per segment when concatenated. Every SMS costs per segment,
so texts are written to fit one where possible. The segments counted are the ones a
gateway that splits the text itself (SMPP) sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38: the basic table in code order (0x1B escapes to the extension table), and
# the extension table's characters with their codes.
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION_CODES = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}
GSM7_BASIC = set(GSM7_TABLE) - {"\x1b"}
GSM7_EXTENSION = set(GSM7_EXTENSION_CODES)
_GSM7_ALL = frozenset(GSM7_BASIC | GSM7_EXTENSION)
_GSM7_CODES = {char: code for code, char in enumerate(GSM7_TABLE)}
_ESCAPE = 0x1B


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsShape:
    encoding: SmsEncoding
    units: int
    segments: int


# Units in one segment, and in each segment of a concatenated message (whose header
# takes the rest).
_SEGMENT_UNITS = {SmsEncoding.GSM7: (160, 153), SmsEncoding.UCS2: (70, 67)}


def encoding_of(text: str) -> SmsEncoding:
    return SmsEncoding.GSM7 if _GSM7_ALL.issuperset(text) else SmsEncoding.UCS2


def _units(char: str, encoding: SmsEncoding) -> int:
    """Septets (GSM-7: two for the extension table) or UTF-16 units (UCS-2: two for a
    character outside the basic plane, such as most emoji)."""
    if encoding == SmsEncoding.GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def _total_units(text: str, encoding: SmsEncoding) -> int:
    # The sum of _units over the text, without a call per character (every SMS queued
    # is measured, a text being written may be several times).
    if encoding == SmsEncoding.GSM7:
        return len(text) + sum(map(GSM7_EXTENSION.__contains__, text))
    return len(text.encode("utf-16-le")) // 2


def _measured(text: str) -> tuple[SmsEncoding, int]:
    encoding = encoding_of(text)
    return encoding, _total_units(text, encoding)


def segment_texts(text: str) -> tuple[SmsEncoding, list[str]]:
    """``text``'s encoding and the texts of its segments. A character is never split
    between two segments (an escape from its character, the halves of an emoji), so a
    concatenated message may need more segments than its units divided by 153 or 67."""
    encoding, units = _measured(text)
    return encoding, _split(text, encoding, units)


def _split(text: str, encoding: SmsEncoding, units: int) -> list[str]:
    single, each = _SEGMENT_UNITS[encoding]
    if units <= single:
        return [text]
    parts: list[str] = []
    start, used = 0, 0
    for at, char in enumerate(text):
        width = _units(char, encoding)
        if used + width > each:
            parts.append(text[start:at])
            start, used = at, 0
        used += width
    parts.append(text[start:])
    return parts


def shape_of(text: str) -> SmsShape:
    encoding, units = _measured(text)
    return SmsShape(
        encoding=encoding, units=units, segments=len(_split(text, encoding, units))
    )


def fits_one_segment(text: str) -> bool:
    encoding, units = _measured(text)
    return units <= _SEGMENT_UNITS[encoding][0]


def gsm7_septets(text: str) -> bytes:
    """``text`` (GSM-7 only) as unpacked septets, one per byte, as SMPP's default
    alphabet carries them; an extension character is the escape and its code."""
    septets = bytearray()
    for char in text:
        if char in GSM7_EXTENSION_CODES:
            septets += bytes((_ESCAPE, GSM7_EXTENSION_CODES[char]))
        else:
            septets.append(_GSM7_CODES[char])
    return bytes(septets)
