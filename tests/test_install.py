"""What `pip install inviteonly` (docs/operations.md, "Install") gives an operator: the
package and its declared dependencies, not the development tools of `[dev]`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Imports every module of the package while refusing any top-level module that is
# neither the standard library's nor a distribution the package's requirements
# (without extras) bring in, directly or through their own requirements.
ONLY_DECLARED_DEPENDENCIES = r"""
import importlib
import importlib.abc
import importlib.metadata as metadata
import pkgutil
import re
import sys


def requirements(distribution, extras):
    for requirement in metadata.distribution(distribution).requires or ():
        name, _, marker = requirement.partition(";")
        wanted = re.findall(r'extra\s*==\s*"([^"]+)"', marker)
        if wanted and not set(wanted) & set(extras):
            continue
        match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", name)
        yield match.group(1), [extra.strip() for extra in (match.group(2) or "").split(",")]


def normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


closure, pending = set(), [("inviteonly", [])]
while pending:
    distribution, extras = pending.pop()
    try:
        found = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        continue  # a requirement for another platform or Python
    key = (normal(found.metadata["Name"]), tuple(sorted(extras)))
    if key in closure:
        continue
    closure.add(key)
    pending.extend(requirements(distribution, extras))
declared = {name for name, _ in closure}
allowed = {"inviteonly", *sys.stdlib_module_names} | {
    module for module, distributions in metadata.packages_distributions().items()
    if any(normal(distribution) in declared for distribution in distributions)
}


class OnlyDeclared(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        top = fullname.partition(".")[0]
        if top not in allowed and not top.startswith("_"):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, OnlyDeclared())
import django

django.setup()
import inviteonly

for module in pkgutil.walk_packages(inviteonly.__path__, "inviteonly."):
    importlib.import_module(module.name)
print("imported every module")
"""


def test_the_package_runs_on_its_declared_dependencies_alone(tmp_path: Path) -> None:
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("INVITEONLY_", "DJANGO_")) and name != "DATABASE_URL"
    } | {
        "INVITEONLY_DATA_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "inviteonly.settings",
        # This checkout's package, whichever one the environment has installed.
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    result = subprocess.run(
        [sys.executable, "-c", ONLY_DECLARED_DEPENDENCIES],
        env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "imported every module"
