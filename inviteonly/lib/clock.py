"""The current time, in one place so tests and benchmarks can move it.

Every module asks ``clock.now()`` (never ``timezone.now()`` directly); the test
suite's ``clock`` fixture swaps the source with ``use_source``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

_source: Callable[[], datetime] = timezone.now


def now() -> datetime:
    return _source()


def use_source(source: Callable[[], datetime] | None) -> None:
    """Make ``now()`` ask ``source``; ``None`` restores the real clock."""
    global _source
    _source = source or timezone.now
