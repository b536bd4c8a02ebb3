"""``kentongan token …`` and ``kentongan readiness``: in-process (CliRunner) and once as a
subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.models import ApiToken
from core.settings import get_settings
from inventory.db import session_scope
from kentongan.cli import app
from tests.api.conftest import ApiEnv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(api_env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiEnv]:
    monkeypatch.setenv("KENTONGAN_DATABASE_URL", api_env.url)
    get_settings.cache_clear()
    yield api_env
    get_settings.cache_clear()


def test_token_create_prints_once_list_hides_revoke(cli_env: ApiEnv) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["token", "create", "--role", "engineer", "--name", "cli-eng"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ktg_") and len(token) > 40
    r = cli_env.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.json()["role"] == "engineer"
    listed = runner.invoke(app, ["token", "list"])
    assert listed.exit_code == 0 and "cli-eng" in listed.stdout and token not in listed.stdout
    with session_scope(cli_env.engine) as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "cli-eng"))
    revoked = runner.invoke(app, ["token", "revoke", str(token_id)])
    assert revoked.exit_code == 0
    r = cli_env.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    bad = runner.invoke(app, ["token", "create", "--role", "root", "--name", "x"])
    assert bad.exit_code == 2 and "unknown role" in bad.output
    assert runner.invoke(app, ["token", "revoke", "999999"]).exit_code == 1


def test_readiness_formats(cli_env: ApiEnv) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["readiness", "--district", "35.10.15", "--format", "csv"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 10
    assert {r["village_name"]: r["verdict"] for r in rows}["Kemiren"] == "qualified"
    out = runner.invoke(app, ["readiness", "--district", "35.10.15", "--format", "json"])
    data = json.loads(out.stdout)
    kenjo = next(v for v in data if v["name"] == "Kenjo")
    assert "facilities.lactation_room" in kenjo["failing"]
    out = runner.invoke(app, ["readiness", "--district", "35.10.15"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "Kemiren" in out.stdout and "qualified 5" in out.stdout
    assert runner.invoke(app, ["readiness", "--district", "99.99"]).exit_code == 1
    assert runner.invoke(app, ["readiness", "--format", "xml"]).exit_code == 2


def test_readiness_refuses_a_bad_policy_as_a_subprocess(cli_env: ApiEnv, tmp_path: Path) -> None:
    bad = tmp_path / "policy.yml"
    bad.write_text("version: x\nkiosk: {seen: {max_age_minutes: -1}}\n")
    env = {**os.environ, "KENTONGAN_DATABASE_URL": cli_env.url}
    ok = subprocess.run([sys.executable, "-m", "kentongan.cli", "readiness", "--format", "csv",
                         "--district", "35.10.15"], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.strip().splitlines()) == 11
    refused = subprocess.run([sys.executable, "-m", "kentongan.cli", "readiness"], cwd=ROOT,
                             env={**env, "KENTONGAN_POLICY_PATH": str(bad)},
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert str(bad) in refused.stderr and "kiosk.seen.max_age_minutes" in refused.stderr
