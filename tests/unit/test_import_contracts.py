"""The import-linter contracts of pyproject.toml (issue 15): the tree keeps them, and a deliberate upward
import in a copy of the tree breaks them (so the check in scripts/test can fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
    "root_packages"]

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (requirements-dev.txt)")


def _copy_tree(target: Path) -> Path:
    """The Python sources of every contracted package, pyproject.toml and the top-level modules, in ``target``."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    for name in ("pyproject.toml", "app.py", "wsgi.py", "settings.py"):
        shutil.copy(ROOT / name, target / name)
    return target


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return _copy_tree(tmp_path_factory.mktemp("tree"))


def _append(path: Path, line: str) -> str:
    before = path.read_text(encoding="utf-8")
    path.write_text(before + f"\n{line}\n", encoding="utf-8")
    return before


def test_the_tree_keeps_every_contract(tree):
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("data/layers.py", "from dispatch import service as _upward  # noqa", "data is not allowed to import dispatch"),
    ("domain/states.py", "from data import models as _upward  # noqa", "domain is not allowed to import data"),
    ("alerts/triage.py", "from dispatch import sla as _sideways  # noqa", "alerts is not allowed to import dispatch"),
    ("dispatch/sla.py", "import app as _root  # noqa", "dispatch is not allowed to import app"),
    ("layouts/ids.py", "from data import models as _model  # noqa", "layouts is not allowed to import data"),
])
def test_a_deliberate_upward_or_sideways_import_breaks_a_contract(tree, module, line, broken):
    path = tree / module
    before = _append(path, line)
    try:
        result = _lint(tree)
    finally:
        path.write_text(before, encoding="utf-8")
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout
