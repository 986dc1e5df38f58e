#!/usr/bin/env python3
"""The two set-up commands of the README, on a machine with only Python ≥ 3.11 and git.

    python3 dev.py serve     # install into .venv (first run), start the site
    python3 dev.py test      # install into .venv (first run), run every test

Both create ``.venv`` beside this file and reinstall only when pyproject.toml changed.
``python3 dev.py lint`` runs ruff and mypy; anything else after ``serve``/``test`` is
passed on (``python3 dev.py test -k join``, ``python3 dev.py serve --port 9000``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-from"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py runs under any python3)
        sys.exit(f"inviteonly needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating .venv …", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing inviteonly and its dependencies into .venv …", flush=True)
    python = str(BIN / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--editable", f"{ROOT}[dev]"], check=True
    )
    STAMP.write_text(wanted)


def run(command: list[str]) -> int:
    return subprocess.run(command, cwd=ROOT).returncode


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test", "lint"}:
        print(__doc__)
        return 2
    ensure_environment()
    action, rest = sys.argv[1], sys.argv[2:]
    if action == "serve":
        return run([str(BIN / "inviteonly"), "serve", *rest])
    if action == "test":
        return run([str(BIN / "python"), "-m", "pytest", *rest])
    ruff = run([str(BIN / "ruff"), "check", "."])
    mypy = run([str(BIN / "mypy"), "inviteonly", "tests", "benchmarks", "dev.py"])
    return ruff or mypy


if __name__ == "__main__":
    sys.exit(main())
