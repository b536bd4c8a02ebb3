"""The import contracts of docs/architecture.md hold, and a forbidden import breaks them.

``lint-imports`` (import-linter) reads the contracts from pyproject.toml; here it runs on
the real tree and on a throw-away copy with one wrong import injected, which must fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "inventory", "collectors", "playbooks", "alerts", "api", "kentongan")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "roles", "*.db", "data", "examples")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=skip)
    return tree


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("alerts/sla.py", "import api.readiness.policy", "alerts/ does not import api/"),
        ("inventory/db.py", "import collectors.store", "Layers:"),
        ("api/app.py", "import kentongan.registry", "is imported by no package"),
        ("core/timeutil.py", "import inventory.models", "Layers:"),
    ],
)
def test_a_forbidden_import_breaks_the_build(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    tree = _copy(tmp_path)
    assert _lint(tree).returncode == 0  # the copy is clean before the injection
    path = tree / module
    path.write_text(path.read_text() + f"\n\ndef _injected() -> None:\n    {bad_import}\n")
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
    assert bad_import.split()[1].rsplit(".", 1)[0] in result.stdout
