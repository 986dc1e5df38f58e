"""What a long-running process does once it has started: the objects it loaded are
frozen out of the cyclic garbage collector's reach (inviteonly/lib/heap.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

from django.urls import get_resolver

from inviteonly.lib.heap import freeze_startup_objects
from tests.test_configuration import clean_environment


class Node:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_what_start_up_loaded_is_frozen_and_what_comes_later_is_still_collected() -> None:
    freeze_startup_objects()
    try:
        tracked = {id(thing) for thing in gc.get_objects()}
        # The URLconf, with every view and the API behind it, is no longer walked.
        assert "url_patterns" in get_resolver().__dict__
        assert id(get_resolver()) not in tracked
        assert gc.get_freeze_count() > 0
        garbage = Node()
        collected = weakref.ref(garbage)
        del garbage
        gc.collect()
        assert collected() is None
    finally:
        gc.unfreeze()


def test_the_wsgi_application_freezes_what_it_loaded(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import gc, inviteonly.wsgi; print(gc.get_freeze_count())"],
        env=clean_environment(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Django, the project's models and views: tens of thousands of objects.
    assert int(result.stdout) > 10_000
