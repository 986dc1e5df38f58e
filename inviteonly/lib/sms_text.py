"""SMS encodings and segment counts.

A text that fits the GSM 03.38 alphabet travels as GSM-7: 160 characters in one
segment, 153 per segment when concatenated, characters of the extension table
counting twice. Anything else (Cyrillic, most emoji) travels as UCS-2: 70 UTF-16
units in one segment, 67 per segment when concatenated. Every SMS costs per segment,
so texts are written to fit one where possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsShape:
    encoding: SmsEncoding
    units: int
    segments: int


def shape_of(text: str) -> SmsShape:
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        single, multi, encoding = 160, 153, SmsEncoding.GSM7
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, SmsEncoding.UCS2
    segments = 1 if units <= single else -(-units // multi)
    return SmsShape(encoding=encoding, units=units, segments=segments)


def fits_one_segment(text: str) -> bool:
    return shape_of(text).segments == 1
