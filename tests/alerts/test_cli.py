"""``kentongan alerts render-config`` and ``kentongan report sla``, in-process and once as a
subprocess; the generated configs pass amtool and promtool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from core.settings import get_settings
from kentongan.cli import app
from tests.alerts.test_sla import history


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, seeded: Engine) -> None:
    monkeypatch.setenv("KENTONGAN_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("KENTONGAN_PROMETHEUS_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.integration
def test_render_config(env: None, tmp_path: Path) -> None:
    scrape = tmp_path / "scrape_token"
    scrape.write_text("ktg_scrape_test\n")
    result = CliRunner().invoke(app, ["alerts", "render-config", "--out", str(tmp_path),
                                      "--shards", "2", "--scrape-token-file", str(scrape)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.iterdir()}
    assert {"alertmanager.yml", "prometheus-embedded.yml", "prometheus-probe-0.yml",
            "prometheus-probe-1.yml", "rules"} <= names
    check = subprocess.run(["/usr/bin/amtool", "check-config", str(tmp_path / "alertmanager.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "4 inhibit rules" in check.stdout, check.stdout
    for name in ("prometheus-embedded.yml", "prometheus-probe-1.yml"):
        check = subprocess.run(["/usr/bin/promtool", "check", "config", str(tmp_path / name)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    assert 'regex: "1"' in (tmp_path / "prometheus-probe-1.yml").read_text().replace("'", '"')
    probe = yaml.safe_load((tmp_path / "prometheus-probe-1.yml").read_text())
    auth = {"type": "Bearer", "credentials_file": str(scrape)}
    assert all(job["authorization"] == auth for job in probe["scrape_configs"])
    assert probe["scrape_configs"][0]["http_sd_configs"][0]["authorization"] == auth
    assert "ktg_scrape_test" not in (tmp_path / "prometheus-probe-1.yml").read_text()


def test_report_sla_in_process(env: None, seeded: Engine) -> None:
    history(seeded)
    result = CliRunner().invoke(app, ["report", "sla", "--month", "2026-10", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("scope,id,name")
    assert "35.10.15.2004" in result.output
    assert "\ncohort,fibre-175," in result.output  # the policy's cohorts, wired in by kentongan/
    bad = CliRunner().invoke(app, ["report", "sla", "--month", "2026-13"])
    assert bad.exit_code == 2


def test_report_sla_subprocess(env: None, seeded: Engine, sqlite_url: str) -> None:
    history(seeded)
    result = subprocess.run(
        [sys.executable, "-m", "kentongan.cli", "report", "sla", "--month", "2026-10",
         "--format", "json"], capture_output=True, text=True, timeout=60,
        env={"KENTONGAN_DATABASE_URL": sqlite_url, "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert '"month": "2026-10"' in result.stdout
