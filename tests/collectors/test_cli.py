"""``kentongan poll --once`` in-process (Typer's CliRunner) and as a subprocess, against a
real simulated SNMP fleet (snmpsim) and a real sshd kiosk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from collectors.simfleet import SimDevice, start_fleet
from core.settings import get_settings
from inventory.db import session_scope
from inventory.models import Device, SnmpProfile, SshProfile
from kentongan.cli import app
from tests.collectors.conftest import seed_inventory
from tests.collectors.sshd import SshLab, make_kiosk
from tests.support.db import migrated_engine

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet_env(
    tmp_path_factory: pytest.TempPathFactory, ssh_lab_session: SshLab
) -> Iterator[dict[str, str]]:
    """A migrated database whose OLT and router answer from snmpsim and whose kiosk is an
    sshd host; yields the environment for ``kentongan``."""
    tmp = tmp_path_factory.mktemp("poll-cli")
    url = f"sqlite:///{tmp / 'kentongan.db'}"
    engine: Engine = migrated_engine(url)
    seed_inventory(engine)
    lab = ssh_lab_session
    make_kiosk(lab.kiosk_root / "kiosk-kemiren-1", version="3.0.0", pid=os.getpid())
    sims = [SimDevice("olt-glagah", "olt"), SimDevice("rtr-kemiren", "router")]
    with start_fleet(sims, workdir=tmp / "fleet") as fleet:
        with session_scope(engine) as s:
            s.add(SshProfile(name="kiosk", username=lab.user, key_file=str(lab.client_key),
                             known_hosts_file=str(lab.known_hosts)))
            for sim in sims:
                secret = tmp / f"{sim.id}.community"
                secret.write_text(fleet.endpoints[sim.id].community + "\n")
                s.add(SnmpProfile(name=f"v2-{sim.id}", version="2c",
                                  community_file=str(secret)))
            s.flush()
            for sim in sims:
                d = s.get(Device, sim.id)
                assert d is not None
                d.address, d.snmp_port = fleet.endpoints[sim.id].address, fleet.endpoints[
                    sim.id].port
                d.snmp_profile = f"v2-{sim.id}"
            k = s.get(Device, "kiosk-kemiren-1")
            assert k is not None
            k.address, k.ssh_port, k.ssh_profile = lab.healthy[2], lab.port, "kiosk"
        engine.dispose()
        yield {
            "KENTONGAN_DATABASE_URL": url,
            "KENTONGAN_KIOSK_ROOT": str(lab.kiosk_root / "{device_id}"),
            "KENTONGAN_POLL_TIMEOUT_SECONDS": "1.0",
        }


@pytest.fixture
def cli_env(fleet_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in fleet_env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_poll_once_json_in_process(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["poll", "--once", "--json"])
    assert result.exit_code == 0, result.output
    data = {o["device_id"]: o for o in json.loads(result.stdout)}
    assert set(data) == {"olt-glagah", "rtr-kemiren", "kiosk-kemiren-1"}
    assert all(o["ok"] for o in data.values()), [o["reason"] for o in data.values()]
    assert data["rtr-kemiren"]["protocol"] == "snmp"
    assert data["rtr-kemiren"]["interfaces"] and data["rtr-kemiren"]["sys_uptime_ticks"]
    assert data["kiosk-kemiren-1"]["protocol"] == "ssh"
    assert data["kiosk-kemiren-1"]["kiosk"]["app_version"] == "3.0.0"
    assert {o["status"] for o in data.values()} == {"up"}


def test_poll_once_table_for_one_device(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["poll", "--once", "--device", "kiosk-kemiren-1"])
    assert result.exit_code == 0, result.output
    assert "kiosk-kemiren-1" in result.stdout and "app 3.0.0 active" in result.stdout
    assert "rtr-kemiren" not in result.stdout
    assert "1 ok, 0 failed" in result.stdout


def test_poll_unknown_device_says_what_to_do(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["poll", "--once", "--device", "no-such-box"])
    assert result.exit_code == 2
    assert "not in the inventory: no-such-box" in result.output


def test_poll_help_has_an_example() -> None:
    result = CliRunner().invoke(app, ["poll", "--help"])
    assert result.exit_code == 0 and "kentongan poll --once --device" in result.output


def test_poll_once_json_subprocess(fleet_env: dict[str, str]) -> None:
    env = dict(os.environ, **fleet_env)
    proc = subprocess.run(
        [sys.executable, "-m", "kentongan.cli", "poll", "--once", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data) == 3 and all(o["ok"] for o in data), proc.stdout
    assert "community" not in proc.stdout.lower()
