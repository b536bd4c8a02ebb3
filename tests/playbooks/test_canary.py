"""Issue 10 item 8 (rollouts): a canary that could not be tried halts the rollout with that
reason, and ``kentongan rollout status`` shows whole messages, wrapped (real Ansible over
real OpenSSH to the session's sshd kiosks)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from core.settings import Settings
from kentongan.cli import app
from playbooks.choices import HostState, RolloutStatus
from tests.playbooks.conftest import kiosk
from tests.playbooks.helpers import hosts, start_rollout
from tests.playbooks.kiosks import KioskFleet
from tests.playbooks.test_cli import cli_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

BOX = re.compile(r"[\u2500-\u257f]")


def _message_column(output: str) -> str:
    """The text of the table's last column, every wrapped line joined, spaces dropped."""
    parts = []
    for line in output.splitlines():
        cells = re.split(r"[│┃]", line)
        if len(cells) >= 3:
            parts.append(cells[-2])
    return re.sub(r"\s", "", BOX.sub("", "".join(parts)))


def test_unreachable_canary_halts_with_its_reason_and_status_shows_it_whole(
    cli_env: dict[str, str],  # noqa: F811
    inventory: Engine,
    fleet: KioskFleet,
    releases: Path,
    rollout_settings: Settings,
) -> None:
    offline, other = kiosk(fleet, "kiosk-5"), kiosk(fleet, "kiosk-3")
    was_up = offline.proc is not None and offline.proc.poll() is None
    before = (other.current, other.releases())
    fleet.stop(offline)
    try:
        # kiosk-5 (kec. Glagah) sorts first: it is the canary; max-fail 100% would let
        # anything through, so only the canary rule can halt this rollout.
        rid, summary = start_rollout(
            inventory, fleet, releases, "1.2.0", ["kiosk-5", "kiosk-3"],
            settings=rollout_settings, canary=1, batch="100%", max_fail=100,
        )
    finally:
        if was_up:
            fleet.start(offline)
    assert summary is not None
    assert summary.status == RolloutStatus.HALTED, summary
    assert "could not be tried" in (summary.message or "")
    assert "kiosk-5" in (summary.message or "")
    rows = hosts(inventory, rid)
    assert rows["kiosk-5"].batch == 0 and rows["kiosk-5"].state == HostState.PENDING
    assert "unreachable" in (rows["kiosk-5"].message or "")
    assert rows["kiosk-3"].state == HostState.PENDING and rows["kiosk-3"].attempts == 0
    assert (other.current, other.releases()) == before

    message = rows["kiosk-5"].message or ""
    assert len(message) > 80  # longer than the old cut-off
    status = CliRunner().invoke(app, ["rollout", "status", str(rid)])
    assert status.exit_code == 0, status.output
    assert re.sub(r"\s", "", message) in _message_column(status.output), status.output
    assert "halted" in status.output
