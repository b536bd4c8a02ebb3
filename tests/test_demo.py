"""``kentongan demo`` end to end: it serves, polls the simulated fleet, and cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port


def _agents_of(workdir: Path) -> list[int]:
    """Pids of snmpsim responders whose data lives under ``workdir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "snmpsim-command-responder" in args and str(workdir) in args:
            pids.append(int(proc.name))
    return pids


@pytest.mark.integration
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
        deadline = time.monotonic() + 150
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
