"""``kentongan rollout`` as a newcomer uses it: a subprocess that dies mid-rollout, then
``status`` and ``resume`` in-process; bad input gets a clear error and starts nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from core.settings import get_settings
from inventory.db import session_scope
from kentongan.cli import app
from playbooks.choices import HostState, RolloutStatus
from playbooks.models import Rollout
from playbooks.rollout import rollout_is_stale
from tests.playbooks.conftest import kiosk
from tests.playbooks.helpers import app_version, hosts, rollout
from tests.playbooks.kiosks import KioskFleet

THREE = ["kiosk-1", "kiosk-2", "kiosk-3"]
BIN = Path(sys.executable).parent


@pytest.fixture
def cli_env(
    inventory: Engine, sqlite_url: str, fleet: KioskFleet, releases: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """Environment of the `kentongan` command for this test's database and fleet."""
    vars_file = tmp_path / "test-kiosks.json"
    vars_file.write_text(json.dumps(fleet.extravars()))
    env = {
        "KENTONGAN_DATABASE_URL": sqlite_url,
        "KENTONGAN_RELEASE_DIR": str(releases),
        "KENTONGAN_SERVICE_HOURS": "00:00-00:00",
        "KENTONGAN_LOG_LEVEL": "WARNING",
        **fleet.envvars(),
        "KENTONGAN_PLAYBOOK_VARS_FILE": str(vars_file),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _crash(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started, as a power cut would."""
    for pid in [proc.pid, *_descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.integration
def test_crash_mid_rollout_then_resume_skips_finished_kiosks(
    cli_env: dict[str, str], inventory: Engine, fleet: KioskFleet
) -> None:
    cmd = [str(BIN / "kentongan"), "rollout", "start", "--version", "3.0.0", "--canary", "1",
           "--batch", "100%", "--max-fail", "0%"]
    for name in THREE:
        cmd += ["--device", name]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.communicate()
            with session_scope(inventory) as session:
                rid = session.scalar(select(func.max(Rollout.id)))
            if rid is not None:
                state = {d: h.state for d, h in hosts(inventory, rid).items()}
                if state["kiosk-1"] == HostState.CHANGED and state["kiosk-2"] == "running":
                    break
            assert time.monotonic() < deadline, "the rollout never reached batch 1"
            time.sleep(0.1)
    finally:
        _crash(proc)

    crashed = rollout(inventory, rid)
    assert crashed.status == RolloutStatus.RUNNING
    assert rollout_is_stale(crashed)
    runner = CliRunner()
    status = runner.invoke(app, ["rollout", "status", str(rid)])
    assert status.exit_code == 0, status.output
    assert "stale" in status.output and "kiosk-2" in status.output

    resumed = runner.invoke(app, ["rollout", "resume", str(rid)])
    assert resumed.exit_code == 0, resumed.output
    assert rollout(inventory, rid).status == RolloutStatus.COMPLETED
    rows = hosts(inventory, rid)
    assert rows["kiosk-1"].attempts == 1  # finished before the crash: not redone
    assert rows["kiosk-2"].attempts == 2  # interrupted: run again
    assert rows["kiosk-3"].attempts in (1, 2)  # same batch as kiosk-2
    assert {h.state for h in rows.values()} <= {HostState.CHANGED, HostState.OK}
    for name in THREE:
        assert app_version(fleet, kiosk(fleet, name)) == "3.0.0"

    listing = runner.invoke(app, ["rollout", "list"])
    assert listing.exit_code == 0 and "completed" in listing.output
    again = runner.invoke(app, ["rollout", "resume", str(rid)])
    assert again.exit_code == 2 and "nothing to resume" in again.output


def test_bad_input_gets_a_clear_error_and_starts_nothing(
    cli_env: dict[str, str], inventory: Engine
) -> None:
    runner = CliRunner()
    cases = [
        (["--version", "4.0.4", "--device", "kiosk-1"], "unknown release 4.0.4"),
        (["--version", "1.0.0", "--district", "35.10.99"], "no enabled device matches"),
        (["--version", "1.0.0", "--device", "kiosk-1", "--sha256", "0" * 64],
         "checksum mismatch"),
        (["--version", "1.0.0", "--device", "kiosk-1", "--batch", "many"], "batch size"),
        (["--version", "1.0.0", "--device", "kiosk-1", "--var", "ansible_host=1.2.3.4"],
         "connection settings"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["rollout", "start", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    with session_scope(inventory) as session:
        assert session.scalar(select(func.count()).select_from(Rollout)) == 0


def test_help_shows_a_pasteable_example() -> None:
    result = CliRunner().invoke(app, ["rollout", "start", "--help"])
    assert result.exit_code == 0
    assert "kentongan rollout start --version 1.4.0" in result.output
