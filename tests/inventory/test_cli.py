"""``kentongan inventory …`` and ``kentongan db upgrade`` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from core.settings import get_settings
from kentongan.cli import app
from tests.inventory.conftest import REGIONS, SAMPLE


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("KENTONGAN_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_upgrade_import_list_export(cli_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["inventory", "import", str(REGIONS), str(SAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]
    assert counts["sites"]["created"] == 328
    again = runner.invoke(app, ["inventory", "import", str(REGIONS), str(SAMPLE)])
    assert again.exit_code == 0
    assert "nothing changed" in again.stdout
    listed = runner.invoke(
        app, ["inventory", "list", "villages", "--district", "35.10.15", "--limit", "0"]
    )
    assert listed.exit_code == 0 and "Kemiren" in listed.stdout
    exported = runner.invoke(app, ["inventory", "export", "--format", "yaml"])
    assert exported.exit_code == 0
    doc = yaml.safe_load(exported.stdout)
    assert {d["id"] for d in doc["devices"]} >= {"kiosk-kemiren-1", "core-noc"}
    sd = runner.invoke(app, ["inventory", "export", "--format", "prometheus-sd", "--role", "ups"])
    assert all(g["labels"]["role"] == "ups" for g in json.loads(sd.stdout))


def test_refused_import_exits_nonzero_with_file_and_line(cli_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices:\n  - {id: x, site: nowhere, role: router, address: 10.0.0.1}\n")
    result = runner.invoke(app, ["inventory", "import", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2: site: unknown site 'nowhere'" in result.stderr
    assert "nothing was changed" in result.stderr


def test_as_a_subprocess(tmp_path: Path) -> None:
    env = dict(os.environ, KENTONGAN_DATABASE_URL=f"sqlite:///{tmp_path / 'sub.db'}")
    kentongan = [sys.executable, "-m", "kentongan.cli"]
    subprocess.run(
        [*kentongan, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120
    )
    out = subprocess.run(
        [*kentongan, "inventory", "import", "--dry-run", "--json", str(REGIONS), str(SAMPLE)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(out.stdout)
    assert report["dry_run"] is True and report["counts"]["devices"]["created"] == 1090
    help_text = subprocess.run(
        [*kentongan, "inventory", "import", "--help"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "kentongan inventory import" in help_text
