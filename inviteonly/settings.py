"""Every tunable of inviteonly, each with the reason it exists.

Values come from the environment (``INVITEONLY_*``, ``DATABASE_URL``) so one build
serves a laptop and a production cluster. With nothing set, the service runs on the
embedded default: SQLite in ``./var``, the console SMS gateway, keys generated once
into ``./var/keys.json``. Every value is read through the ``_env_*`` helpers below: a
value they cannot use stops the process with ImproperlyConfigured naming the variable
and what it takes (the ``inviteonly`` command prints that one line).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import secrets
import zoneinfo
from base64 import urlsafe_b64encode
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

# What a switch (INVITEONLY_DEBUG, …) may be set to, in any case.
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# What INVITEONLY_LOG_LEVEL may be, in any case.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _env_text(name: str) -> str | None:
    """The variable's value, stripped; None when it is unset or empty (the default)."""
    value = os.environ.get(name, "").strip()
    return value or None


def _bad_value(name: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name} must be {expected}, not {os.environ.get(name)!r}.")


def _env_bool(name: str, default: bool) -> bool:
    value = _env_text(name)
    if value is None:
        return default
    if value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise _bad_value(name, f"one of {', '.join(_TRUE)} or {', '.join(_FALSE)}")


# The longest duration a variable may give, in days (100 years): a longer one would
# overflow a time (a join link valid for 10^9 days expires past the year 9999).
_MAX_DAYS = 36_500


def _env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _env_text(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad_value(name, "a whole number") from None
    if minimum is not None and number < minimum:
        raise _bad_value(name, f"at least {minimum}")
    if maximum is not None and number > maximum:
        raise _bad_value(name, f"at most {maximum:,}")
    return number


def _env_int_or_none(name: str, *, minimum: int | None = None) -> int | None:
    """A whole number, or None when the variable is unset (no limit)."""
    return None if _env_text(name) is None else _env_int(name, 0, minimum=minimum)


def _env_int_or_off(name: str, default: int) -> int | None:
    """A whole number, or None for "off" (in any case)."""
    value = _env_text(name)
    if value is not None and value.lower() == "off":
        return None
    try:
        return _env_int(name, default, minimum=0)
    except ImproperlyConfigured:
        raise _bad_value(name, "a whole number or 'off'") from None


def _env_float(
    name: str, default: float, *, above: float | None = None, maximum: float | None = None
) -> float:
    value = _env_text(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _bad_value(name, "a number") from None
    if not math.isfinite(number):
        raise _bad_value(name, "a finite number")
    if maximum is not None and number > maximum:
        raise _bad_value(name, f"at most {maximum:g}")
    if above is not None and not number > above:
        raise _bad_value(name, f"more than {above:g}")
    return number


def _env_choice(name: str, default: str, *, choices: tuple[str, ...]) -> str:
    """One of ``choices``, typed in any case."""
    value = _env_text(name)
    if value is None:
        return default
    if value.upper() in choices:
        return value.upper()
    raise _bad_value(name, f"one of {', '.join(choices)}")


def _env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name (``Europe/Moscow``), as the system's time zone data knows
    it."""
    value = _env_text(name)
    if value is None:
        return default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _bad_value(name, "an IANA time zone name such as Europe/Moscow or UTC") from None
    return value


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_networks(
    name: str, default: str = ""
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """IP networks (CIDR) or single addresses, comma-separated."""
    try:
        return [ipaddress.ip_network(item, strict=False) for item in _env_list(name, default)]
    except ValueError:
        raise _bad_value(name, "IP addresses or networks such as 10.0.5.7, 10.0.5.0/24") from None


def _env_regions(name: str) -> list[str]:
    """ISO region codes, in upper case whatever was typed (inviteonly.E004 refuses
    unknown ones)."""
    return [region.upper() for region in _env_list(name)]


def _env_json_object(name: str) -> dict[str, Any]:
    value = _env_text(name)
    if value is None:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not valid JSON ({error}): {value!r}.") from None
    if not isinstance(parsed, dict):
        raise _bad_value(name, 'a JSON object such as {"US": {"gateway": "twilio"}}')
    return parsed


PACKAGE_DIR = Path(__file__).resolve().parent

# Where the embedded default keeps its SQLite database, generated keys and (unless
# MEDIA_ROOT says otherwise) uploaded avatars. The default is relative to the directory
# the command starts in (a laptop's checkout); a service manager starts it in "/", so
# production sets it (`serve` and `worker` print it at start).
DATA_DIR = Path(_env_text("INVITEONLY_DATA_DIR") or Path.cwd() / "var").resolve()

# Debug pages leak settings and stack traces: never on in production.
DEBUG = _env_bool("INVITEONLY_DEBUG", False)

# The public address of the site, used to build the join links sent by SMS. Unset,
# `serve` makes it the address it listens on; other commands (`founder`, `worker`) do
# not know that address and use this default.
BASE_URL = (_env_text("INVITEONLY_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")

# The name members see in pages and in invitation SMS.
SITE_NAME = _env_text("INVITEONLY_SITE_NAME") or "inviteonly"

# Host names the site answers to (Django refuses others with a 400: a forged Host
# header cannot make it build links or redirects to another site).
ALLOWED_HOSTS = _env_list(
    "INVITEONLY_ALLOWED_HOSTS", f"127.0.0.1,localhost,{urlsplit(BASE_URL).hostname}"
)
# Forms may be posted from the site's own public address (behind a TLS proxy the
# request itself may not look like https to Django).
CSRF_TRUSTED_ORIGINS = [BASE_URL]

# How many reverse proxies (nginx, a load balancer) stand in front of the server. Each
# appends the address it saw to X-Forwarded-For; the client's is the one the outermost
# proxy appended. 0 = take REMOTE_ADDR (no proxy; X-Forwarded-For could be forged).
TRUSTED_PROXY_COUNT = _env_int("INVITEONLY_TRUSTED_PROXY_COUNT", 0, minimum=0)
# Behind such proxies, the TLS-terminating one says the request came over https
# (X-Forwarded-Proto: https; nginx: proxy_set_header X-Forwarded-Proto $scheme).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None


# ---------------------------------------------------------------------------
# Keys. Each key has an id so it can be rotated: new data is written under the
# first key of a ring, old data stays readable under the others.
# ---------------------------------------------------------------------------

# Where keys the environment lacks are generated once and then read (mode 0600): a
# laptop's convenience. A second host would generate keys of its own, so production
# sets every key in the environment; `inviteonly check` names any key read from here
# (inviteonly.W001 when some keys come from the environment and some from this file,
# inviteonly.E003 under --deploy).
KEYS_FILE = DATA_DIR / "keys.json"
# The environment variables of the four keys (each explained below).
KEY_NAMES = (
    "INVITEONLY_SECRET_KEY",
    "INVITEONLY_PHONE_ENCRYPTION_KEYS",
    "INVITEONLY_PHONE_INDEX_KEY",
    "INVITEONLY_TOKEN_KEY",
)


def _new_key(name: str) -> str:
    if name == "INVITEONLY_SECRET_KEY":
        # Any string; Django asks for at least 50 characters (security.W009): 64.
        return secrets.token_urlsafe(48)
    # AES-256 and HMAC-SHA256 keys: 32 bytes, base64url (lib/crypto.py checks them).
    key = urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return f"k1:{key}" if name == "INVITEONLY_PHONE_ENCRYPTION_KEYS" else key


def _load_keys(keys_file: Path) -> tuple[dict[str, str], list[str]]:
    """Keys from the environment; the others from ``keys_file``, generated into it if it
    lacks them too. Also the names of the keys that came from the file."""
    keys = {name: os.environ[name] for name in KEY_NAMES if os.environ.get(name)}
    missing = [name for name in KEY_NAMES if name not in keys]
    if not missing:
        return keys, []
    stored: dict[str, str] = {}
    if keys_file.exists():
        try:
            stored = json.loads(keys_file.read_text())
        except ValueError:
            raise ImproperlyConfigured(f"{keys_file} is not valid JSON.") from None
    generate = [name for name in missing if name not in stored]
    if generate:
        # Only what the environment lacks: a key set there never lands on disk.
        stored.update({name: _new_key(name) for name in generate})
        try:
            keys_file.parent.mkdir(parents=True, exist_ok=True)
            keys_file.touch(mode=0o600, exist_ok=True)
            keys_file.write_text(json.dumps(stored, indent=2))
        except OSError as error:
            raise ImproperlyConfigured(
                f"INVITEONLY_DATA_DIR: cannot keep the generated keys in {keys_file} "
                f"({error.strerror}); set a directory the site may write to, or set "
                f"{', '.join(generate)}."
            ) from None
    return {**keys, **{name: stored[name] for name in missing}}, missing


# The keys, and the names of those read from KEYS_FILE (inviteonly/checks.py names them).
_KEYS, KEYS_FROM_FILE = _load_keys(KEYS_FILE)

# Signs sessions and CSRF tokens.
SECRET_KEY = _KEYS["INVITEONLY_SECRET_KEY"]

# AES-GCM keys for phone numbers and SMS texts at rest: "id:base64key,id:base64key".
# The first key encrypts; every listed key decrypts (rotation: prepend a new key,
# run `inviteonly rotate_phone_keys`, then drop the old one).
PHONE_ENCRYPTION_KEYS = _KEYS["INVITEONLY_PHONE_ENCRYPTION_KEYS"]

# HMAC-SHA256 key of the phone blind index (the unique, searchable stand-in for a
# number). Kept apart from the encryption keys so a leak of one does not open the other.
PHONE_INDEX_KEY = _KEYS["INVITEONLY_PHONE_INDEX_KEY"]

# HMAC-SHA256 key under which join tokens, verification tokens and codes are stored.
TOKEN_KEY = _KEYS["INVITEONLY_TOKEN_KEY"]


# ---------------------------------------------------------------------------
# Django
# ---------------------------------------------------------------------------

INSTALLED_APPS = [
    # First, so that its templates override the admin's (templates/admin/base_site.html).
    "inviteonly.apps.InviteonlyConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "inviteonly.site_config",
    "inviteonly.accounts",
    "inviteonly.invitations",
    "inviteonly.phone_verification",
    "inviteonly.sms",
    "inviteonly.audit_log",
    "inviteonly.notifications",
    "inviteonly.abuse",
    "inviteonly.invitation_requests",
    "inviteonly.moderation",
    "inviteonly.social",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The member's time zone, or the site's, for everything the request shows.
    "inviteonly.accounts.middleware.time_zone_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: a page instead of the empty 405 of a form's address opened (error_views.py).
    "inviteonly.error_views.method_not_allowed_middleware",
]

ROOT_URLCONF = "inviteonly.urls"
WSGI_APPLICATION = "inviteonly.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "inviteonly.site_config.context_processors.site",
            ],
        },
    },
]

# SQLite by default: WAL lets readers run beside the writer, the busy timeout makes
# writers queue instead of failing, IMMEDIATE transactions take the write lock up
# front so two writers never deadlock upgrading a read lock.
_SQLITE_PATH = DATA_DIR / "inviteonly.sqlite3"
# Seconds a thread keeps its database connection. Reconnecting on every request (and,
# on SQLite, re-reading the schema) costs a third of a registration's own work
# (benchmarks/join_flow); a new PostgreSQL connection also plans every statement afresh
# for its first ten runs, about 30 ms of a thread's work each time it is replaced.
# Health checks notice a connection the server dropped, so a long age costs no errors;
# it is an age at all so that a connection's server-side caches do not grow for ever.
DATABASE_CONNECTION_MAX_AGE = _env_int("INVITEONLY_DB_CONN_MAX_AGE", 600, minimum=0)
try:
    DATABASES = {
        "default": dj_database_url.config(
            default=f"sqlite:///{_SQLITE_PATH}",
            conn_max_age=DATABASE_CONNECTION_MAX_AGE,
            conn_health_checks=True,
        )
    }
except ValueError as error:  # an unknown scheme ("postgress://"), a malformed URL
    raise ImproperlyConfigured(
        f"DATABASE_URL must be a database URL such as postgres://user@host:5432/name "
        f"({error})."
    ) from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that asks the socket instead of sending
    # SELECT 1 on every request (inviteonly/lib/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "inviteonly.lib.postgresql"
    # Parameters bound by the server, so that psycopg prepares a statement once a
    # connection has run it this many times: the hot reads then skip planning, which
    # costs PostgreSQL more than running them. "off" for a pooler that cannot keep
    # prepared statements (PgBouncer in transaction mode before 1.21).
    # Added to what DATABASE_URL's query string sets (sslmode=…, options=…).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "server_side_binding": True,
        "prepare_threshold": _env_int_or_off("INVITEONLY_DB_PREPARE_THRESHOLD", 5),
    })

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.Member"
AUTHENTICATION_BACKENDS = ["inviteonly.accounts.backends.PhonePasswordBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"

# Argon2id first: the password hash is the one deliberately slow step of joining.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# The shortest password accepted (Django's validators also refuse the 20,000 most
# common passwords and all-digit ones).
PASSWORD_MIN_LENGTH = _env_int("INVITEONLY_PASSWORD_MIN_LENGTH", 8, minimum=1)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Passwords longer than this are refused before hashing (a megabyte password is a
# denial-of-service tool, not a password).
PASSWORD_MAX_LENGTH = 256

# Session keys are stored only as HMACs (see accounts/sessions.py).
SESSION_ENGINE = "inviteonly.accounts.sessions"
# How long a login lasts (pages and API tokens alike): a member on a lost phone stays
# logged in this long unless they change their password.
SESSION_COOKIE_AGE = int(
    timedelta(
        days=_env_int("INVITEONLY_SESSION_DAYS", 14, minimum=1, maximum=_MAX_DAYS)
    ).total_seconds()
)
# How stale a session's "last used" time may get (the sessions page, GET
# /api/me/sessions): a request writes it only when it is older than this, so a member's
# requests do not each write their session row; the page shows it to this precision.
SESSION_LAST_SEEN_INTERVAL = timedelta(
    minutes=_env_int("INVITEONLY_SESSION_LAST_SEEN_MINUTES", 5, minimum=1, maximum=24 * 60)
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# A form that fails its CSRF check gets the site's page, translated (Django's is English).
CSRF_FAILURE_VIEW = "inviteonly.error_views.csrf_failure_view"

# HTTPS (Django's security.W004 and W008 under `check --deploy`). Only a proxy that
# says so (SECURE_PROXY_SSL_HEADER above) lets the site tell https from plain http, so
# the redirect to https is on by default only with an https BASE_URL behind one
# (INVITEONLY_SSL_REDIRECT=0 if the proxy redirects itself). Gateways' delivery reports
# (/sms/…) are exempt: they may come from inside, to an http
# SMS_DELIVERY_REPORT_BASE_URL, and a gateway does not follow redirects.
SECURE_SSL_REDIRECT = _env_bool(
    "INVITEONLY_SSL_REDIRECT", SESSION_COOKIE_SECURE and TRUSTED_PROXY_COUNT > 0
)
SECURE_REDIRECT_EXEMPT = [r"^sms/"]
# HSTS: a browser that saw the site over https refuses plain http to it for this long.
# On (a year) with an https BASE_URL — its secure cookies make the site unusable over
# http anyway — and sent only on https responses. 0 turns it off.
SECURE_HSTS_SECONDS = _env_int(
    "INVITEONLY_HSTS_SECONDS", 365 * 24 * 3600 if SESSION_COOKIE_SECURE else 0, minimum=0
)
# includeSubDomains and preload bind every subdomain of the domain, which is for its
# owner to decide: off unless set, and Django's reminders of them (security.W005,
# W021) are silenced.
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("INVITEONLY_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _env_bool("INVITEONLY_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
# Our date formats first (inviteonly/formats/ru: Russian dates without "г.", which
# doubled the full stop of every sentence ending in a date); Django's for the rest.
FORMAT_MODULE_PATH = ["inviteonly.formats"]
USE_I18N = True
# Times are stored in UTC, and the server's own output (logs, the commands' lines, the
# process's clock) stays in UTC whatever SITE_TIME_ZONE says.
TIME_ZONE = "UTC"
USE_TZ = True
# The time zone pages, notices and the API's messages show times in for members who
# chose none on their profile page (Member.time_zone), and for visitors who are not
# logged in: an IANA name (Europe/Moscow). The API's times are ISO 8601 with their
# offset (UTC) either way.
SITE_TIME_ZONE = _env_time_zone("INVITEONLY_TIME_ZONE", "UTC")

STATIC_URL = "static/"
# Where `inviteonly collectstatic` gathers files for a front proxy; unset, whitenoise
# serves them straight from the package.
STATIC_ROOT = _env_text("INVITEONLY_STATIC_ROOT")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the app directories: `serve` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# Form and JSON bodies larger than this are refused before they reach a view (400 page,
# 413 in the API); avatars are uploads, limited by AVATAR_MAX_BYTES instead. Every form
# and API body the site takes fits many times over.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# API list pages: default and largest page (every list pages by a cursor, no offset).
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 100


def _as_warning_without_traceback(record: logging.LogRecord) -> bool:
    """A request for a host the site does not serve (Django's DisallowedHost) is a
    stranger's scanner, not the site failing: Django logs it at ERROR with a traceback,
    which would wake whoever routes ERROR lines to alerting."""
    record.levelno, record.levelname = logging.WARNING, "WARNING"
    record.exc_info, record.exc_text = None, None
    return logging.getLogger(record.name).isEnabledFor(logging.WARNING)


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"as_warning": {"()": lambda: _as_warning_without_traceback}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # In any case ("debug" or "DEBUG").
    "root": {
        "handlers": ["console"],
        "level": _env_choice("INVITEONLY_LOG_LEVEL", "INFO", choices=LOG_LEVELS),
    },
    "loggers": {
        "django.security.DisallowedHost": {"filters": ["as_warning"]},
        # waitress warns "Task queue depth is N" for every request that waits for a
        # thread: under load, one line per request, which costs more than the wait.
        "waitress.queue": {"level": "ERROR"},
        # smpplib writes every PDU in hex at DEBUG: the bind's password, numbers, texts
        # (codes, join links). Held at INFO whatever INVITEONLY_LOG_LEVEL says.
        "smpp": {"level": "INFO"},
        "smpplib": {"level": "INFO"},
    },
}


# ---------------------------------------------------------------------------
# The social layer: profiles, walls, messages
# ---------------------------------------------------------------------------

# Uploaded files (avatars, re-encoded) live here, beside the SQLite database by default.
MEDIA_ROOT = Path(_env_text("INVITEONLY_MEDIA_ROOT") or DATA_DIR / "media").resolve()
MEDIA_URL = "media/"

# Avatars: the largest upload accepted, the largest picture decoded (a small file can
# hold a huge picture: a decompression bomb), and the side of the stored square.
AVATAR_MAX_BYTES = _env_int("INVITEONLY_AVATAR_MAX_BYTES", 2 * 1024 * 1024, minimum=1)
AVATAR_MAX_SOURCE_PIXELS = 25_000_000
AVATAR_SIZE = 256
# Uploads up to this size stay in memory; an avatar fits.
FILE_UPLOAD_MAX_MEMORY_SIZE = AVATAR_MAX_BYTES
# The largest request body `serve` reads at all (waitress answers 413 past it, before
# the body reaches a disk buffer). Far above an avatar, so a member who picks a large
# photo still gets the page's own "too large" message.
REQUEST_BODY_MAX_BYTES = _env_int(
    "INVITEONLY_REQUEST_BODY_MAX_BYTES", 16 * 1024 * 1024, minimum=1
)

# The longest "about me", wall post and private message.
PROFILE_ABOUT_MAX_LENGTH = 1000
WALL_POST_MAX_LENGTH = 5000
MESSAGE_MAX_LENGTH = 5000

# Wall posts, messages, friends and inbox rows per page.
SOCIAL_PAGE_SIZE = 20

# How long a wall post's or a message's idempotency key (the API's Idempotency-Key
# header, a page form's submission key) answers a retry with the first request's
# result instead of writing again: a client retrying after a lost answer does so
# within minutes, a phone that was offline within hours. `sweep` deletes older keys;
# past this window the same key writes anew.
IDEMPOTENCY_KEY_WINDOW = timedelta(
    hours=_env_int("INVITEONLY_IDEMPOTENCY_KEY_HOURS", 24, minimum=1, maximum=24 * 30)
)

# A member is new for this many days after joining: the new_member_* rate limits
# apply and their wall posts may hold at most NEW_MEMBER_MAX_LINKS_PER_POST links
# (spam is mostly links, and mostly from accounts made for it).
NEW_MEMBER_PERIOD_DAYS = _env_int(
    "INVITEONLY_NEW_MEMBER_PERIOD_DAYS", 7, minimum=0, maximum=_MAX_DAYS
)
NEW_MEMBER_MAX_LINKS_PER_POST = _env_int("INVITEONLY_NEW_MEMBER_MAX_LINKS", 0, minimum=0)

# A member who leaves the network (accounts.actions.do_leave_network) keeps their
# number's blind index, and nothing else of it, for this many days: until then the
# number cannot join again (an invitation to it is answered as any and sends no SMS,
# as for a member's number), so leaving is no way to wipe one's history and rejoin at
# once. `sweep` then clears it, and the number may be invited again.
LEFT_NUMBER_HOLD_DAYS = _env_int(
    "INVITEONLY_LEFT_NUMBER_HOLD_DAYS", 90, minimum=0, maximum=_MAX_DAYS
)


# ---------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------

# Region codes below are ISO 3166 ones in any case ("ru" is RU); `inviteonly check`
# refuses codes it does not know (inviteonly.E004) instead of refusing every number.

# Region assumed for numbers typed without a country code ("8 916 123-45-67").
PHONE_DEFAULT_REGION = (_env_text("INVITEONLY_PHONE_DEFAULT_REGION") or "RU").upper()

# If set, only numbers from these ISO regions may be invited, join or get a code (e.g.
# "RU,BY,KZ"); members with other numbers can still log in (both lists).
# In both lists, "001" stands for numbers of no country (satellite phones, +881, +882…).
PHONE_ALLOWED_REGIONS = _env_regions("INVITEONLY_PHONE_ALLOWED_REGIONS")

# Numbers from these regions are refused (a cheap first line against SMS pumping;
# "001", satellite and international networks, is a common target of it).
PHONE_DENIED_REGIONS = _env_regions("INVITEONLY_PHONE_DENIED_REGIONS")


# ---------------------------------------------------------------------------
# Invitations
# ---------------------------------------------------------------------------

# Invitation requests (people who know no member ask; members grant): how long one
# waits for a member, and how long its note may be.
INVITATION_REQUEST_TTL = timedelta(days=30)
INVITATION_REQUEST_NOTE_MAX_LENGTH = 500

# A join link is valid this long; an unredeemed invitation then expires.
INVITATION_TTL = timedelta(
    days=_env_int("INVITEONLY_INVITATION_TTL_DAYS", 7, minimum=1, maximum=_MAX_DAYS)
)

# Random bytes in a join token: 12 bytes = 96 bits, 16 URL-safe characters, short
# enough that the invitation SMS fits one segment.
JOIN_TOKEN_BYTES = 12

# Optional cap on new members per day across the site (unset: no cap). A flood of
# sign-ups — a leaked batch of invitations, an open-mode rush — waits for tomorrow
# instead of filling the network faster than moderators can look.
NEW_MEMBERS_PER_DAY = _env_int_or_none("INVITEONLY_NEW_MEMBERS_PER_DAY", minimum=0)

# The optional note an inviter attaches; it is shown to the invitee on the join page.
INVITATION_NOTE_MAX_LENGTH = 200

# The longest display name; long names would push the invitation SMS into two segments.
DISPLAY_NAME_MAX_LENGTH = 64


# ---------------------------------------------------------------------------
# Invite rights: the published rules (invitations/rights.py) and their thresholds.
# Founders and moderators pass the automatic rules and invite without an allowance;
# a moderator's grant waives the automatic rules for one member.
# ---------------------------------------------------------------------------

# A member who joined this recently cannot invite yet: a spammer cannot join and
# invite a crowd the same day.
INVITE_MIN_ACCOUNT_AGE_DAYS = _env_int(
    "INVITEONLY_INVITE_MIN_ACCOUNT_AGE_DAYS", 30, maximum=_MAX_DAYS
)

# A warning, quarantine or ban that was upheld (not lifted as a mistake) blocks
# inviting for this many days after it was imposed.
INVITE_SANCTION_COOLDOWN_DAYS = _env_int(
    "INVITEONLY_INVITE_SANCTION_COOLDOWN_DAYS", 90, maximum=_MAX_DAYS
)

# How the member's invitees turned out: once a member has at least
# INVITE_INVITEES_MIN_COUNT invitees, a share of banned or quarantined ones above
# INVITE_INVITEES_MAX_BAD_SHARE stops them inviting (until a moderator grants it).
# Below the minimum count one bad invitee would be a 100 % share: strikes handle that.
INVITE_INVITEES_MIN_COUNT = _env_int("INVITEONLY_INVITE_INVITEES_MIN_COUNT", 4)
INVITE_INVITEES_MAX_BAD_SHARE = _env_float("INVITEONLY_INVITE_INVITEES_MAX_BAD_SHARE", 0.25)

# The trust-score rule: inactive while no score provider is configured (a dotted path
# to a function member → float in [0, 1], or None when the member has no score yet).
# Once scores exist, members below the minimum cannot invite.
INVITE_TRUST_SCORE_PROVIDER = _env_text("INVITEONLY_INVITE_TRUST_SCORE_PROVIDER") or ""
INVITE_MIN_TRUST_SCORE = _env_float("INVITEONLY_INVITE_MIN_TRUST_SCORE", 0.5)

# The allowance: one invitation earned every INVITE_ALLOWANCE_PERIOD_DAYS from joining,
# at most INVITE_ALLOWANCE_MAX_UNUSED saved up. Sending spends one; an unredeemed
# invitation gives it back when it expires (a revoked one when it would have expired).
INVITE_ALLOWANCE_PERIOD_DAYS = _env_int(
    "INVITEONLY_INVITE_ALLOWANCE_PERIOD_DAYS", 7, maximum=_MAX_DAYS
)
INVITE_ALLOWANCE_MAX_UNUSED = _env_int("INVITEONLY_INVITE_ALLOWANCE_MAX_UNUSED", 5)

# Accountability: each invitee banned for spam gives the inviter a strike; this many
# strikes within the window suspend the inviter's invite rights for a while (the
# suspension lapses by itself).
INVITE_STRIKES_TO_SUSPEND = _env_int("INVITEONLY_INVITE_STRIKES_TO_SUSPEND", 2)
INVITE_STRIKE_WINDOW_DAYS = _env_int(
    "INVITEONLY_INVITE_STRIKE_WINDOW_DAYS", 180, maximum=_MAX_DAYS
)
INVITE_STRIKE_SUSPENSION_DAYS = _env_int(
    "INVITEONLY_INVITE_STRIKE_SUSPENSION_DAYS", 60, maximum=_MAX_DAYS
)

# The longest reason a moderator may write for a sanction, a grant or a branch action.
MODERATION_REASON_MAX_LENGTH = 500

# The same sanction (kind, moderator, reason) or grant of invite rights for the same
# member again within this many seconds is a form sent twice (a double click), refused
# with 409, not a second decision: two bans in force would need two lifts, two grants
# two withdrawals.
MODERATION_REPEAT_WINDOW_SECONDS = 60

# Reports (moderation.actions.do_report_item): the longest note a reporter may add, and
# how much of the reported text a report keeps for the moderators (they judge it even
# after the content is removed).
REPORT_DETAILS_MAX_LENGTH = 500
REPORT_EXCERPT_LENGTH = 300

# A report moderators dismissed cannot be filed again by the same reporter about the
# same post, message or profile for this many days (409 report_dismissed): otherwise one
# member re-queues the same item at once, without end. Other members may still report
# it; 0 lets the reporter file it again at once.
REPORT_REFILE_AFTER_DAYS = _env_int(
    "INVITEONLY_REPORT_REFILE_AFTER_DAYS", 30, minimum=0, maximum=_MAX_DAYS
)

# Items (reported posts, messages, profiles) per page of the moderation queue.
MODERATION_QUEUE_PAGE_SIZE = 25

# The admin's unfiltered lists of a table at least this large (by PostgreSQL's
# statistics) say about how many rows it holds instead of counting them on every page
# view (lib/admin.py: the audit log grows by every login). Smaller tables, filtered
# lists and SQLite are counted exactly.
ADMIN_COUNT_ESTIMATED_FROM = 100_000


# ---------------------------------------------------------------------------
# The invitation tree
# ---------------------------------------------------------------------------

# Whether /tree/public/ shows who invited whom to everyone (off: members see only their
# own inviter and invitees; moderators see everything either way). Members can hide
# themselves from it.
PUBLIC_TREE_PAGE = _env_bool("INVITEONLY_PUBLIC_TREE_PAGE", False)

# Invitees listed per page of the tree pages and API (a member may have thousands).
TREE_CHILDREN_PER_PAGE = 50


# ---------------------------------------------------------------------------
# Confirmation codes
# ---------------------------------------------------------------------------

# Six digits: one in a million per guess, and five guesses per code.
VERIFICATION_CODE_DIGITS = 6

# A code not entered within this time is dead.
VERIFICATION_CODE_TTL = timedelta(minutes=10)

# Wrong entries that kill a code.
VERIFICATION_CODE_MAX_ATTEMPTS = 5

# Wrong entries per number (and purpose) across all its codes within the window: past
# it, a new code gets a single try instead of a fresh set of guesses.
VERIFICATION_MAX_FAILURES_PER_NUMBER = 10
VERIFICATION_FAILURE_WINDOW = timedelta(hours=24)

# Random bytes in the verification token an API client holds between the two steps.
VERIFICATION_TOKEN_BYTES = 24


# ---------------------------------------------------------------------------
# SMS
# ---------------------------------------------------------------------------

# Which gateway delivers SMS: "console" prints them (laptops), "memory" keeps them
# for tests, "kannel", "smpp" and "twilio" send them for real (configured below;
# `inviteonly check` refuses to start with a missing or invalid configuration).
SMS_GATEWAY = _env_text("INVITEONLY_SMS_GATEWAY") or "console"

# The sender id SMS go out under (an alphanumeric name or a number), unless a route
# below says otherwise. Empty: the gateway's own default (Kannel's global-sender, the
# site name over SMPP), which the checks of US and Canadian senders cannot see
# (sms.W003).
SMS_SENDER_ID = os.environ.get("INVITEONLY_SMS_SENDER_ID", "")

# Routes by the recipient's country (ISO region): {"US": {"gateway": "twilio",
# "sender_id": "+14155550100"}}. Keys missing from a route come from SMS_GATEWAY and
# SMS_SENDER_ID. US and Canada refuse alphanumeric sender ids: a check demands a
# numeric one there. A JSON object in the environment.
SMS_ROUTES: dict[str, dict[str, str]] = _env_json_object("INVITEONLY_SMS_ROUTES")

# Regions where carriers drop SMS from alphanumeric sender ids.
SMS_NUMERIC_SENDER_REGIONS = ("US", "CA")

# Seconds a gateway call may take before it counts as a retryable failure. At most a
# quarter of SMS_SEND_LEASE (sms.W002): a send starts with at least half the lease
# left, and connecting and waiting for the answer may each take this long.
SMS_GATEWAY_TIMEOUT = _env_float("INVITEONLY_SMS_GATEWAY_TIMEOUT", 10, above=0)

# Where gateways send delivery reports (Kannel's dlr-url, Twilio's status callback):
# the site's address as the gateway reaches it. Defaults to BASE_URL (and, like it,
# to where `serve` listens when neither is set).
SMS_DELIVERY_REPORT_BASE_URL = (
    _env_text("INVITEONLY_SMS_DELIVERY_REPORT_BASE_URL") or BASE_URL
).rstrip("/")
# Gateways call the site under that name, so it is an allowed host.
if urlsplit(SMS_DELIVERY_REPORT_BASE_URL).hostname not in (*ALLOWED_HOSTS, "*", None):
    ALLOWED_HOSTS.append(str(urlsplit(SMS_DELIVERY_REPORT_BASE_URL).hostname))

# Kannel: smsbox's sendsms URL and a `sendsms-user` of it. Optional: the smsc-id to
# route through.
KANNEL_SENDSMS_URL = os.environ.get("INVITEONLY_KANNEL_SENDSMS_URL", "")
KANNEL_USERNAME = os.environ.get("INVITEONLY_KANNEL_USERNAME", "")
KANNEL_PASSWORD = os.environ.get("INVITEONLY_KANNEL_PASSWORD", "")
KANNEL_SMSC_ID = os.environ.get("INVITEONLY_KANNEL_SMSC_ID", "")
# Where Kannel's delivery reports may come from: smsbox's addresses or networks, as the
# site sees its clients (behind TRUSTED_PROXY_COUNT proxies, from X-Forwarded-For).
# Kannel signs nothing: the token in a report URL names the message, but the report's
# type (delivered, not delivered) is Kannel's %d in the query string, and whoever has
# read a report URL (in a proxy's access log, in Kannel's) could call it with another.
# Default: this machine (smsbox beside the site); "0.0.0.0/0, ::/0" takes any caller.
KANNEL_DELIVERY_REPORT_SOURCES = _env_networks(
    "INVITEONLY_KANNEL_DELIVERY_REPORT_SOURCES", "127.0.0.1, ::1"
)

# SMPP: the provider's host and port ("host:port") and the system id and password of
# the bind (transceiver: submits and receipts on one connection).
SMPP_ADDRESS = os.environ.get("INVITEONLY_SMPP_ADDRESS", "")
SMPP_SYSTEM_ID = os.environ.get("INVITEONLY_SMPP_SYSTEM_ID", "")
SMPP_PASSWORD = os.environ.get("INVITEONLY_SMPP_PASSWORD", "")

# Twilio: the account SID and auth token (which also validates status callbacks);
# TWILIO_API_BASE_URL only to point the client elsewhere (tests).
TWILIO_ACCOUNT_SID = os.environ.get("INVITEONLY_TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("INVITEONLY_TWILIO_AUTH_TOKEN", "")
TWILIO_API_BASE_URL = os.environ.get("INVITEONLY_TWILIO_API_BASE_URL", "")

# Invitation SMS are written in the invitee's likely language: the language of their
# number's region, English elsewhere.
SMS_LANGUAGE_BY_REGION = {
    "RU": "ru",
    "BY": "ru",
    "KZ": "ru",
    "KG": "ru",
    "TJ": "ru",
    "UZ": "ru",
    "AM": "ru",
    "AZ": "ru",
    "MD": "ru",
}

# Seconds an idle delivery worker waits before looking for new messages again.
SMS_WORKER_POLL_SECONDS = _env_float("INVITEONLY_SMS_WORKER_POLL_SECONDS", 1, above=0)

# Messages a worker claims in one transaction: fewer spread a burst over more workers,
# more cost fewer claims.
SMS_WORKER_BATCH_SIZE = _env_int("INVITEONLY_SMS_WORKER_BATCH_SIZE", 20, minimum=1)

# A message whose worker died this many times while holding it (the message may be
# what kills them) is marked failed for good. Attempts the gateway answered with a
# retryable error, or did not answer, do not count: those are retried until SMS_MAX_AGE,
# so a gateway that is down for hours loses nothing.
SMS_MAX_ATTEMPTS = 8

# A message not sent this long after it was queued is failed instead of retried: an
# invitation that arrives a day late only confuses. A code's SMS is failed sooner, once
# its code is dead (VERIFICATION_CODE_TTL).
SMS_MAX_AGE = timedelta(
    hours=_env_int("INVITEONLY_SMS_MAX_AGE_HOURS", 12, minimum=1, maximum=24 * _MAX_DAYS)
)

# How long the parts of an SMS sent over SMPP wait for their delivery receipts: an
# SMSC stops retrying a message after its validity period (commonly 48 hours), so a
# receipt that has not come in three days will not. `sweep` then deletes the parts.
SMS_PART_RECEIPT_WAIT = timedelta(days=3)

# First retry delay; each further attempt doubles it (with jitter) up to the longest,
# so that messages go out within minutes once a gateway that was down is back.
SMS_RETRY_BASE_DELAY = timedelta(seconds=5)
SMS_RETRY_MAX_DELAY = timedelta(minutes=5)

# How often a delivery worker deletes ended rate-limit windows and old verifications
# and fails abandoned SMS (the same as `inviteonly sweep`).
SWEEP_INTERVAL = timedelta(hours=1)

# How long a worker's claim on a message lasts (renewed before a send once half of it
# has passed): if the worker dies, the message goes back to the queue after this.
# Gateways must time out well before half of it (SMS_GATEWAY_TIMEOUT).
# Also how long a message a dead worker may have handed to Kannel waits for Kannel's
# delivery report before it is sent again (see sms/delivery.py).
SMS_SEND_LEASE = timedelta(
    seconds=_env_float("INVITEONLY_SMS_SEND_LEASE_SECONDS", 120, above=0, maximum=86_400)
)


# ---------------------------------------------------------------------------
# Abuse budgets
# ---------------------------------------------------------------------------

# Where rate-limit counters live: Redis when set (shared by every process, no writes
# to the database), otherwise a table in the database. Every request that counts
# (sending or checking a code, logging in, inviting, posting…) needs it: while Redis
# is down they answer 500, so `inviteonly check` warns at start when it does not
# answer (inviteonly.W002). A URL redis-py cannot read at all ("127.0.0.1:6379") would
# fail every such request too: it stops the start instead, without repeating the value
# (it may hold the password).
REDIS_URL = _env_text("REDIS_URL") or ""
if REDIS_URL and REDIS_URL.partition("://")[0].lower() not in ("redis", "rediss", "unix"):
    raise ImproperlyConfigured(
        "REDIS_URL must be a URL starting with redis://, rediss:// or unix:// "
        "(such as redis://127.0.0.1:6379/0)."
    )

# Named rate limits: action → (key, maximum hits, window in seconds). Per-address rules
# are counted before per-number ones and the first rule over its limit refuses (429)
# without counting the rest: an address that is refused cannot use up a number's
# budget. Keys: "number", "number_prefix" (country code + 4 digits), "ip", "member",
# "country", "global". Windows are fixed, aligned to the clock, but a rule of one hit
# per window, a cooldown: its window starts at the hit it lets through, so two hits it
# lets through are always at least the window apart (a window of the clock would let
# two through a second apart, one each side of a minute's end).
RATE_LIMITS: dict[str, list[tuple[str, int, int]]] = {
    # SMS with a code (join, recovery): 5 per hour and 10 per day per number, and a
    # resend cooldown: a minute at least since the last code to the number. A join
    # through a link counts a number apart for that link (accounts.actions.
    # do_start_join: so that no cooldown tells the invited number from another): each
    # link has these limits of its own.
    "send_code": [("ip", 20, 3600), ("number", 1, 60), ("number", 5, 3600),
                  ("number", 10, 86400)],
    # Typing codes: each code dies after five wrong tries and each number after ten a
    # day (VERIFICATION_*); this caps one address trying codes of many numbers.
    "check_code": [("ip", 30, 600)],
    # Password guesses: logins, and the current password typed to change one
    # (accounts.actions.do_change_password), which counts here and in the number's login
    # throttle (LOGIN_* below) exactly as a login does, so that a session cannot guess
    # the password faster than the login form.
    "login": [("ip", 30, 600)],
    "recover": [("ip", 10, 3600), ("number", 5, 3600)],
    "join": [("ip", 10, 3600)],
    # Moving an account to a new number (a code to it, counted in "send_code" too; the
    # password typed with it counts in "login"): people change SIMs a few times a year,
    # so a member or an address asking for more codes than this is trying numbers.
    "phone_change": [("ip", 10, 3600), ("member", 5, 86400)],
    # Invitations (direct or by granting a request): per address and per member.
    "invite": [("ip", 50, 86400), ("member", 20, 86400)],
    # Invitation SMS per number, whoever sends them, direct or granted: one phone cannot
    # be flooded by many inviters or by inviting and revoking. This rule never refuses
    # (a refusal would tell an inviter that someone invited the number today, or whose
    # request a request is): past it the invitation is answered and made like any other
    # and its SMS queued suppressed, as a member's number's always is, with an audit
    # entry naming the rule. Counted with "invite", in the invitation's transaction.
    "invitation_sms": [("number", 3, 86400)],
    # Asking for an invitation (no SMS is sent, but members read every request).
    "invitation_request": [("ip", 5, 86400), ("number", 2, 86400)],
    # Everyday writing, for every member: generous, they only stop scripts.
    "wall_post": [("member", 60, 3600)],
    "message": [("member", 300, 3600)],
    "friend_request": [("member", 50, 86400)],
    "find_by_phone": [("member", 20, 86400)],
    # Avatar uploads: decoding one costs up to a few hundred ms of CPU and a few hundred
    # MB (a small PNG can hold AVATAR_MAX_SOURCE_PIXELS); counted before decoding.
    "avatar": [("member", 10, 3600)],
    # Reports: plenty for an honest member, too few to flood the moderation queue.
    "report": [("member", 30, 86400)],
    # Members in their first NEW_MEMBER_PERIOD_DAYS: the spam a fresh account can send
    # before anyone had a chance to report it.
    "new_member_wall_post": [("member", 5, 3600)],
    "new_member_message_to_stranger": [("member", 10, 86400)],
}

# SMS-pumping defence (abuse/sms_budget.py), taken before every SMS. Off only in the
# test suite's defaults, like the rate limits.
SMS_PUMPING_DEFENCE = True

# Codes to one country that are never verified, per day: at least the minimum, or this
# share of the most codes verified in that country on one day of the lookback (so a
# country with real traffic gets room to match it; Authgear's formula).
SMS_UNVERIFIED_DAILY_MIN = 20
SMS_UNVERIFIED_DAILY_SHARE = 0.2
SMS_VERIFIED_LOOKBACK_DAYS = 14

# Per hour: at least the minimum, or the daily cap divided by this.
SMS_UNVERIFIED_HOURLY_MIN = 3
SMS_HOURS_PER_DAILY_CAP = 6

# An address (an IPv6 /64) may ask for codes to numbers of this many countries a day.
SMS_MAX_COUNTRIES_PER_IP = 3

# Circuit breaker: SMS of every kind (codes and invitations) the whole site may queue in
# an hour. Past it every SMS is refused until the hour ends, an ERROR is logged and the
# admin shows a banner. Set it to a few times your busiest hour.
SMS_MAX_PER_HOUR = _env_int("INVITEONLY_SMS_MAX_PER_HOUR", 1000, minimum=1)

# Failed logins per number: the first few are typos and cost nothing; after them each
# failure makes the next attempt wait, doubling from the first wait up to the longest.
LOGIN_THROTTLE_FREE_FAILURES = 3
LOGIN_THROTTLE_FIRST_WAIT = timedelta(seconds=30)
LOGIN_THROTTLE_LONGEST_WAIT = timedelta(hours=1)
# After this many failures in a row, only a password recovery (by SMS code) unlocks
# login for the number.
LOGIN_MAX_CONSECUTIVE_FAILURES = 100
# A number's failures short of that are forgotten (`inviteonly sweep`) once nobody has
# failed with it for this long: else every number ever typed keeps a row. Long enough
# that waiting it out wins a guesser far fewer tries than the waits allow meanwhile.
LOGIN_FAILURES_FORGOTTEN_AFTER = timedelta(days=30)
# Device tokens (accounts/device_tokens.py; OWASP's device cookies): a successful login
# hands the client one — the pages a cookie, the API `device_token` in its answer —
# and a later login that brings it back for the same number is throttled per token
# (the waits and lockout above, counted apart), not by the number's count. Without
# them anyone who knows a member's number could lock the member out by failing with
# it. Long-lived: a device stays trusted this long after its last login (each login
# hands out a new token); then its logins count on the number again.
LOGIN_DEVICE_TOKEN_LIFETIME = timedelta(
    days=_env_int("INVITEONLY_LOGIN_DEVICE_TOKEN_DAYS", 365, minimum=1, maximum=_MAX_DAYS)
)
# The pages' cookie holding it: HttpOnly, SameSite=Lax, Secure with an https BASE_URL,
# kept at logout (it trusts the browser, it logs nobody in).
LOGIN_DEVICE_COOKIE_NAME = "inviteonly_device"
