"""What a member is shown about where a session was started, and nothing more: the
browser family and system read from a User-Agent, and the address's network masked.

Neither keeps what it was given: a User-Agent can carry anything a client chooses (it is
reduced to two short names from a fixed list, or a product name of letters and digits),
and an address is cut to its network (/24 for IPv4, /48 for IPv6), the part a member
recognises ("my home", "the office") without it naming one household's connection.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Each column's width in MemberSession; longer names are cut.
NAME_MAX_LENGTH = 32
NETWORK_MAX_LENGTH = 43

# Most specific first: Edge, Opera, Yandex and Samsung's browsers also say "Chrome", and
# Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\b(?:Edg|EdgA|EdgiOS|Edge)/")),
    ("Opera", re.compile(r"\b(?:OPR|OPiOS|Opera)\b")),
    ("Yandex Browser", re.compile(r"\bYaBrowser/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS|Chromium)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
# A client that is no browser ("python-requests/2.32", "okhttp/4.12") is named by its
# first product token, letters, digits and a few separators only.
_PRODUCT = re.compile(r"^\s*([A-Za-z][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class ClientDescription:
    browser: str  # "" when unknown
    system: str  # "" when unknown


def describe_client(user_agent: str) -> ClientDescription:
    """The browser family and system of a User-Agent, e.g. Chrome and Android."""
    user_agent = user_agent[:512]  # what is read of it; a browser's fits
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), "")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    if not browser and not system:
        product = _PRODUCT.match(user_agent)
        if product is not None and product.group(1) != "Mozilla":
            browser = product.group(1)[:NAME_MAX_LENGTH]
    return ClientDescription(browser=browser, system=system)


def masked_network(ip_address: str | None) -> str:
    """The network of an address, e.g. ``203.0.113.0/24``; "" for none or a bad one."""
    if not ip_address:
        return ""
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
