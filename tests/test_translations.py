"""The translation catalogs stay complete, correct and compiled.

What these tests guard:

* every message in the Russian catalog (``inviteonly/locale/ru/LC_MESSAGES/django.po``)
  is translated, every plural form included, and nothing is marked fuzzy — Django ignores
  fuzzy entries, so a fuzzy translation silently shows English;
* each translation keeps exactly the placeholders of its source (``%(name)s``, ``%d``...):
  a lost or renamed placeholder raises ``KeyError`` or drops data at run time;
* the committed ``.mo`` files match the ``.po`` files: Django reads only the compiled
  catalog, so a ``.po`` edited without ``compilemessages`` would change nothing;
* the catalogs cover the code: ``makemessages`` run afresh over a copy of the package
  finds exactly the messages the committed catalogs hold, so a new string in Python or a
  template that nobody translated (or a stale one nobody removed) fails here;
* Russian really is served through Django's translation machinery, plurals included, and
  the Russian SMS texts still fit one UCS-2 segment.

After changing user-facing strings, from ``inviteonly/``::

    django-admin makemessages -l ru -l en --no-location --ignore 'migrations/*'
    # translate the new entries in locale/ru/LC_MESSAGES/django.po, then
    django-admin compilemessages
"""

from __future__ import annotations

import gettext
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import translation

from inviteonly.lib.sms_text import fits_one_segment, shape_of
from inviteonly.sms.texts import invitation_text, join_code_text, recovery_code_text
from tests.conftest import skip_or_fail

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "inviteonly"
LOCALE_DIR = PACKAGE_DIR / "locale"
LANGUAGES = ("ru", "en")
MAKEMESSAGES_IGNORE = "migrations/*"

# Russian: 1, 21, 101 → form 0; 2-4, 22-24 → form 1; 0, 5-20, 25-30, 111-114 → form 2.
RUSSIAN_PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
    "(n%100<10 || n%100>=20) ? 1 : 2);"
)


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


def mo_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.mo"


# --- A small .po reader ---------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')


@dataclass
class PoEntry:
    """One message of a .po file (obsolete ``#~`` entries are not read)."""

    line: int
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None

    @property
    def gettext_key(self) -> str:
        """The lookup key gettext uses: the context joined with EOT, as in the .mo."""
        return self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"

    def __str__(self) -> str:
        context = f" (context {self.msgctxt!r})" if self.msgctxt is not None else ""
        return f"line {self.line}: {self.msgid!r}{context}"


def _unquote(token: str, path: Path, line: int) -> str:
    if len(token) < 2 or not (token.startswith('"') and token.endswith('"')):
        raise ValueError(f"{path}:{line}: expected a quoted string, got {token!r}")

    def unescape(match: re.Match[str]) -> str:
        try:
            return _ESCAPES[match.group(1)]
        except KeyError:
            raise ValueError(f"{path}:{line}: unknown escape \\{match.group(1)}") from None

    return re.sub(r"\\(.)", unescape, token[1:-1])


def parse_po(path: Path) -> list[PoEntry]:
    """The entries of a .po file, header (msgid "") included, in file order."""
    entries: list[PoEntry] = []
    entry: PoEntry | None = None
    flags: set[str] = set()
    obsolete = False
    target: tuple[str, int] | None = None  # the field that continuation lines extend

    def finish() -> None:
        nonlocal entry, flags, obsolete, target
        if entry is not None and not obsolete:
            if not entry.msgstr:
                raise ValueError(f"{path}:{entry.line}: entry without msgstr")
            entries.append(entry)
        entry, flags, obsolete, target = None, set(), False, None

    def append(value: str) -> None:
        assert entry is not None and target is not None
        name, index = target
        if name == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + value
        elif name == "msgid":
            entry.msgid += value
        elif name == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + value
        else:
            entry.msgstr[index] += value

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        if not text:
            finish()
            continue
        if text.startswith("#~"):
            obsolete = True
            continue
        if text.startswith("#,"):
            flags |= {flag.strip() for flag in text[2:].split(",") if flag.strip()}
            continue
        if text.startswith("#"):
            continue
        if text.startswith('"'):
            if target is None:
                raise ValueError(f"{path}:{number}: string outside an entry")
            append(_unquote(text, path, number))
            continue
        match = _KEYWORD.match(text)
        if match is None:
            raise ValueError(f"{path}:{number}: cannot read {raw!r}")
        keyword, index, token = match.group(1), match.group(2), match.group(3)
        value = _unquote(token, path, number)
        if keyword in ("msgctxt", "msgid") and entry is not None and entry.msgstr:
            finish()  # a new entry without a blank line before it
        if entry is None:
            entry = PoEntry(line=number, flags=flags)
        if keyword == "msgctxt":
            entry.msgctxt, target = value, ("msgctxt", 0)
        elif keyword == "msgid":
            entry.msgid, target = value, ("msgid", 0)
        elif keyword == "msgid_plural":
            entry.msgid_plural, target = value, ("msgid_plural", 0)
        else:
            slot = int(index) if index is not None else 0
            entry.msgstr[slot], target = value, ("msgstr", slot)
    finish()
    return entries


@cache
def catalog(language: str) -> tuple[PoEntry, ...]:
    return tuple(parse_po(po_path(language)))


def messages(language: str) -> list[PoEntry]:
    return [entry for entry in catalog(language) if not entry.is_header]


def header(language: str) -> dict[str, str]:
    entry = next(entry for entry in catalog(language) if entry.is_header)
    fields = (line.partition(":") for line in entry.msgstr[0].splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, _, value in fields}


def nplurals(language: str) -> int:
    match = re.search(r"nplurals\s*=\s*(\d+)", header(language).get("Plural-Forms", ""))
    assert match, f"the {language} catalog has no Plural-Forms header"
    return int(match.group(1))


# --- Placeholders ---------------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<conversion>[diouxXeEfFgGcrsa%])"
)


def placeholders(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Named placeholders as a set (order is free), positional ones in order."""
    named: set[str] = set()
    positional: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        if match.group("conversion") == "%":
            continue
        if match.group("name") is not None:
            named.add(match.group(0))
        else:
            positional.append(match.group(0))
    return frozenset(named), tuple(positional)


def _describe(found: tuple[frozenset[str], tuple[str, ...]]) -> str:
    named, positional = found
    return f"{sorted(named)} {list(positional)}"


# --- The .po files --------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_is_valid_and_not_fuzzy(language: str) -> None:
    assert po_path(language).is_file(), f"{po_path(language)} is missing: run makemessages"
    fuzzy = [str(entry) for entry in catalog(language) if "fuzzy" in entry.flags]
    assert not fuzzy, f"fuzzy entries in the {language} catalog (Django ignores them): {fuzzy}"
    fields = header(language)
    assert fields.get("Language") == language
    assert "charset=UTF-8" in fields.get("Content-Type", "")
    keys = Counter(entry.key for entry in catalog(language))
    duplicated = [key for key, count in keys.items() if count > 1]
    assert not duplicated, f"duplicate entries in the {language} catalog: {duplicated}"


def test_russian_plural_rule() -> None:
    assert header("ru").get("Plural-Forms") == RUSSIAN_PLURAL_FORMS
    rule = gettext.c2py(RUSSIAN_PLURAL_FORMS.split("plural=", 1)[1].rstrip(";"))
    expected = {0: 2, 1: 0, 2: 1, 4: 1, 5: 2, 11: 2, 12: 2, 14: 2, 20: 2, 21: 0, 22: 1,
                25: 2, 101: 0, 111: 2, 112: 2, 122: 1}
    assert {n: rule(n) for n in expected} == expected


def test_every_russian_message_is_translated() -> None:
    forms = nplurals("ru")
    problems: list[str] = []
    for entry in messages("ru"):
        slots = list(range(forms)) if entry.msgid_plural is not None else [0]
        if sorted(entry.msgstr) != slots:
            problems.append(f"{entry}: has forms {sorted(entry.msgstr)}, expected {slots}")
        empty = [slot for slot in slots if not entry.msgstr.get(slot, "").strip()]
        if empty:
            problems.append(f"{entry}: untranslated form(s) {empty}")
    assert messages("ru"), "the ru catalog holds no messages"
    assert not problems, "incomplete Russian translations:\n" + "\n".join(problems)


def test_both_catalogs_hold_the_same_messages() -> None:
    russian = {entry.key for entry in messages("ru")}
    english = {entry.key for entry in messages("en")}
    assert russian == english, (
        f"only in ru: {sorted(map(str, russian - english))}; "
        f"only in en: {sorted(map(str, english - russian))}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language: str) -> None:
    problems: list[str] = []
    for entry in messages(language):
        source = placeholders(entry.msgid)
        if entry.msgid_plural is not None:
            plural = placeholders(entry.msgid_plural)
            if not (source[0] <= plural[0]):
                problems.append(f"{entry}: msgid_plural lacks {sorted(source[0] - plural[0])}")
            source = plural
        for slot, text in sorted(entry.msgstr.items()):
            if text and placeholders(text) != source:
                problems.append(
                    f"{entry}: msgstr[{slot}] has {_describe(placeholders(text))}, "
                    f"the source has {_describe(source)}"
                )
    assert not problems, "placeholders differ:\n" + "\n".join(problems)


# --- The compiled .mo files -----------------------------------------------------------


def _mo_message_count(path: Path) -> int:
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">"
    _, _, count = struct.unpack(order + "III", data[:12])
    return int(count)


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_matches_the_po_file(language: str) -> None:
    path = mo_path(language)
    assert path.is_file(), f"{path} is missing: run compilemessages"
    with path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    plural_form = gettext.c2py(_plural_expression(language))
    stale: list[str] = []
    translated = 0
    for entry in messages(language):
        if not all(entry.msgstr.values()):
            continue  # msgfmt leaves untranslated entries out (English is the source)
        translated += 1
        if entry.msgid_plural is None:
            got = compiled.gettext(entry.gettext_key)
            if got != entry.msgstr[0]:
                stale.append(f"{entry}: the .mo says {got!r}, the .po {entry.msgstr[0]!r}")
            continue
        for n in range(0, 130):
            form = compiled.ngettext(entry.gettext_key, entry.msgid_plural, n)
            expected = entry.msgstr.get(plural_form(n))
            if form != expected:
                stale.append(f"{entry}: n={n}: the .mo says {form!r}, the .po {expected!r}")
                break
    # The header counts as one message; more means the .mo keeps strings the .po dropped.
    in_mo = _mo_message_count(path) - 1
    if in_mo != translated:
        stale.append(f"{path} holds {in_mo} translated messages, the .po {translated}")
    assert not stale, "the .mo is stale, run compilemessages:\n" + "\n".join(stale)


def _plural_expression(language: str) -> str:
    forms = header(language).get("Plural-Forms", "")
    return forms.split("plural=", 1)[1].rstrip(";") if "plural=" in forms else "n != 1"


# --- The catalogs cover the code -------------------------------------------------------


@pytest.fixture
def fresh_catalog(tmp_path: Path) -> Iterator[Path]:
    """makemessages run over a copy of the package, with no catalog to merge into."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        skip_or_fail("GNU gettext (Debian package gettext) is not installed")
    copy = tmp_path / "inviteonly"
    shutil.copytree(
        PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("locale", "__pycache__", "*.pyc")
    )
    (copy / "locale").mkdir()
    # No settings: LOCALE_PATHS would point makemessages at the real catalogs.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "ru", "--no-location",
         "--ignore", MAKEMESSAGES_IGNORE],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    path = copy / "locale" / "ru" / "LC_MESSAGES" / "django.po"
    assert path.is_file(), f"makemessages wrote no catalog:\n{result.stdout}\n{result.stderr}"
    yield path


def test_catalog_covers_every_string_in_the_code(fresh_catalog: Path) -> None:
    in_code = {entry.key for entry in parse_po(fresh_catalog) if not entry.is_header}
    committed = {entry.key for entry in messages("ru")}
    missing = sorted(map(str, in_code - committed))
    stale = sorted(map(str, committed - in_code))
    assert not missing and not stale, (
        "the catalogs are out of date: run makemessages, translate, compilemessages.\n"
        f"Strings in the code but not in the ru catalog: {missing}\n"
        f"Strings in the ru catalog but no longer in the code: {stale}"
    )


# --- Russian through Django ------------------------------------------------------------


def test_russian_is_served_through_django() -> None:
    with translation.override("ru"):
        assert translation.gettext("Log in") == "Войти"
        assert translation.gettext("Log in") != "Log in"
        assert translation.gettext("Send invitation") == "Отправить приглашение"
        assert translation.gettext("Mobile number") == "Номер мобильного телефона"
        assert str(translation.gettext_lazy("Invitation only")) == "Только по приглашениям"
        rendered = Template(
            "{% load i18n %}{% translate 'Invite someone' %}|"
            "{% blocktranslate %}Join {{ site_name }}{% endblocktranslate %}"
        ).render(Context({"site_name": "inviteonly"}))
        assert rendered == "Пригласить знакомого|Присоединяйтесь к inviteonly"
    with translation.override("en"):
        assert translation.gettext("Log in") == "Log in"
        assert translation.gettext("Send invitation") == "Send invitation"


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "Неверный код. Осталась 1 попытка."),
        (2, "Неверный код. Осталось 2 попытки."),
        (4, "Неверный код. Осталось 4 попытки."),
        (5, "Неверный код. Осталось 5 попыток."),
        (11, "Неверный код. Осталось 11 попыток."),
        (21, "Неверный код. Осталась 21 попытка."),
    ],
)
def test_russian_plurals(count: int, expected: str) -> None:
    with translation.override("ru"):
        text = translation.ngettext(
            "The code is wrong. You have %(count)d more try.",
            "The code is wrong. You have %(count)d more tries.",
            count,
        ) % {"count": count}
    assert text == expected


@pytest.mark.parametrize("language", LANGUAGES)
def test_code_sms_fit_one_segment(language: str) -> None:
    for text in (
        join_code_text(code="0" * settings.VERIFICATION_CODE_DIGITS, language=language),
        recovery_code_text(code="0" * settings.VERIFICATION_CODE_DIGITS, language=language),
    ):
        assert fits_one_segment(text), f"{text!r} takes {shape_of(text)}"
    if language == "ru":
        assert "код" in join_code_text(code="123456", language="ru")


def test_russian_invitation_sms() -> None:
    link = f"{settings.BASE_URL}/j/{'x' * 16}"
    text = invitation_text(inviter_name="Анна", link=link, language="ru")
    assert "приглашает" in text
    assert link in text
    assert fits_one_segment(text), f"{text!r} takes {shape_of(text)}"
