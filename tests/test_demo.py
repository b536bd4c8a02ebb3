"""``kentongan demo`` end to end: it serves, polls the simulated fleet, runs Prometheus,
Alertmanager and the Glagah sshd kiosk stand-ins, takes faults on demand through the
admin-only demo API (``kentongan demo fault …``), rolls a release to the Glagah kiosks as
the README's tour does, and cleans up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kentongan.cli import app
from tests.support.ports import free_port


def _agents_of(workdir: Path) -> list[int]:
    """Pids of snmpsim responders, sshd stand-ins, Prometheus and Alertmanager whose files
    live under ``workdir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if ("snmpsim-command-responder" in args or "sshd" in args or "prometheus" in args) \
                and str(workdir) in args:
            pids.append(int(proc.name))
    return pids


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_demo_serves_a_live_fleet_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kentongan.cli",
            "demo",
            "--port",
            str(port),
            "--devices",
            "24",
            "--poll-interval",
            "5",
            "--fibre-cuts",
            "0",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        up: list[str] = []
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            try:
                text = httpx.get(f"{base}/metrics", timeout=5).text
            except httpx.HTTPError:
                time.sleep(1)
                continue
            up = [
                line
                for line in text.splitlines()
                if line.startswith("kentongan_device_up{") and line.endswith(" 1")
            ]
            if len(up) >= 20:
                break
            time.sleep(1)
        assert len(up) >= 20, f"only {len(up)} simulated devices up"
        assert httpx.get(f"{base}/healthz", timeout=5).json()["status"] == "ok"
        board = httpx.get(f"{base}/", timeout=10)
        assert board.status_code == 200 and "Kentongan" in board.text
        assert _agents_of(tmp_path / ".kentongan-demo"), "the simulated agents should run"
        _check_peers_faults_and_rollout(tmp_path, base)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    time.sleep(0.5)
    assert _agents_of(tmp_path / ".kentongan-demo") == [], "demo left simulated agents behind"


def _metric(base: str, name: str, device: str) -> float | None:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") and f'device="{device}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def _until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s: {what}")


def _check_peers_faults_and_rollout(tmp_path: Path, base: str) -> None:
    workdir = tmp_path / ".kentongan-demo"
    info = json.loads((workdir / "demo.json").read_text())
    assert info["prometheus_url"] and info["alertmanager_url"], info
    assert httpx.get(f"{info['alertmanager_url']}/-/ready", timeout=5).status_code == 200
    am_config = httpx.get(f"{info['alertmanager_url']}/api/v2/status", timeout=5).json()
    assert f"{base}/api/v1/alerts" in am_config["config"]["original"]
    token = (workdir / "admin_token").read_text().strip()
    assert (workdir / "admin_token").stat().st_mode & 0o077 == 0
    assert token not in (tmp_path / "demo.log").read_text()

    # The demo API wants an admin token and does not exist outside the demo.
    anonymous = httpx.post(f"{base}/api/v1/demo/faults/cut", json={"link": "x"}, timeout=10)
    assert anonymous.status_code == 401
    assert len(info["kiosks"]) == 10

    # The demo installs the first release on the Glagah stand-ins (rollout 1).
    env = dict(os.environ)
    for line in (workdir / "env").read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value.strip("'")
    last_status = [""]

    def first_install_done() -> bool:
        status = subprocess.run(
            [sys.executable, "-m", "kentongan.cli", "rollout", "status", "1"], env=env,
            capture_output=True, text=True, cwd=tmp_path)
        last_status[0] = status.stdout + status.stderr
        return "release 2.4.1: completed" in last_status[0]

    try:
        _until(first_install_done, 300, "first release installed")
    except AssertionError:
        raise AssertionError(last_status[0][-3000:]) from None
    runner = CliRunner()
    kiosk = "kiosk-kemiren-1"
    result = runner.invoke(app, ["demo", "fault", "kiosk", kiosk, "stop", "--workdir",
                                 str(workdir)])
    assert result.exit_code == 0, result.output
    assert "fault 1: kiosk kiosk-kemiren-1" in result.output
    _until(lambda: _metric(base, "kentongan_device_up", kiosk) == 0, 120,
           f"{kiosk} down after it was stopped")
    result = runner.invoke(app, ["demo", "fault", "kiosk", kiosk, "start", "--workdir",
                                 str(workdir)])
    assert result.exit_code == 0, result.output
    _until(lambda: _metric(base, "kentongan_device_up", kiosk) == 1, 120,
           f"{kiosk} up after it was started")
    bad = runner.invoke(app, ["demo", "fault", "repair", "fo-noc-glagah", "--workdir",
                              str(workdir)])
    assert bad.exit_code == 2 and "is not cut" in bad.output

    rollout = subprocess.run(
        [sys.executable, "-m", "kentongan.cli", "rollout", "start", "--version", "2.5.0",
         "--district", "35.10.15", "--batch", "100%"],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=400,
    )
    assert rollout.returncode == 0, rollout.stderr[-3000:]
    assert "completed" in rollout.stdout + rollout.stderr, rollout.stderr[-3000:]
    port = json.loads((workdir / "kiosk-vars.json").read_text())["kiosk_app_port"]
    address = info["kiosks"][kiosk].split(":")[0]
    health = httpx.get(f"http://{address}:{port}/health", timeout=5).text
    assert health.split()[1] == "2.5.0", health


def test_demo_fault_routes_exist_only_in_demo_mode(tmp_path: Path) -> None:
    from core.settings import Settings
    from kentongan.app import create_app

    application = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}",
                                      run_poller=False))
    paths = set(application.openapi()["paths"])
    assert "/healthz" in paths
    assert not any(p.startswith("/api/v1/demo") for p in paths)


def test_fault_durations_read_as_people_write_them() -> None:
    from kentongan.commands import parse_duration

    assert parse_duration("90") == 90
    assert parse_duration("90s") == 90
    assert parse_duration("10m") == 600
    assert parse_duration("2h") == 7200
    result = CliRunner().invoke(app, ["demo", "fault", "cut", "fo-noc-glagah", "--for", "0m",
                                      "--workdir", "/nonexistent"])
    assert result.exit_code == 2 and "longer than zero" in result.output
    result = CliRunner().invoke(app, ["demo", "fault", "cut", "fo-noc-glagah",
                                      "--workdir", "/nonexistent"])
    assert result.exit_code == 2 and "no running demo" in result.output
