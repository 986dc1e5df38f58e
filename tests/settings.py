"""Settings for the test suite: the real ones, with fixed test keys and the memory gateway.

``DATABASE_URL`` still chooses the database, so the same suite runs on SQLite (the
default) and on PostgreSQL.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("INVITEONLY_DATA_DIR", tempfile.mkdtemp(prefix="inviteonly-tests-"))
os.environ.setdefault("INVITEONLY_SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
os.environ.setdefault(
    "INVITEONLY_PHONE_ENCRYPTION_KEYS",
    "test2:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ0=,"
    "test1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
)
os.environ.setdefault("INVITEONLY_PHONE_INDEX_KEY", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=")
os.environ.setdefault("INVITEONLY_TOKEN_KEY", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA=")
os.environ.setdefault("INVITEONLY_SMS_GATEWAY", "memory")
os.environ.setdefault("INVITEONLY_BASE_URL", "http://testserver")

from inviteonly.settings import *  # noqa: F403

ALLOWED_HOSTS = ["*"]

# SQLite tests run on a file, not in memory: concurrency tests need real WAL locking
# and the busy timeout (shared-cache in-memory databases fail fast instead of waiting).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": Path(os.environ["INVITEONLY_DATA_DIR"]) / "test.sqlite3"
    }

# The suite runs without rate limits, except where a test turns the real ones on
# (tests/test_rate_limited_endpoints.py): flows that send many codes to one number
# would otherwise trip the resend cooldown.
RATE_LIMITS = {}
# Likewise the SMS-pumping defence (tests/test_sms_budget.py turns it on).
SMS_PUMPING_DEFENCE = False
