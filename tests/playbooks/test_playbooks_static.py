"""The playbooks pass ``ansible-playbook --syntax-check`` and ``ansible-lint``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from playbooks.runner import ANSIBLE_CFG, PLAYBOOK_DIR

PLAYBOOKS = ["kiosk-provision.yml", "kiosk-update.yml", "kiosk-facts.yml"]
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG),
                PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_syntax_check(playbook: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", playbook],
        cwd=PLAYBOOK_DIR, env=_env() | {"HOME": str(tmp_path)}, capture_output=True, text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_is_clean(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", "--nocolor", "-f", "pep8", *PLAYBOOKS],
        cwd=PLAYBOOK_DIR, env=_env() | {"HOME": str(tmp_path)}, capture_output=True, text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stderr + proc.stdout
