"""Rollouts check SSH host keys: a kiosk whose key is not known is not touched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from inventory.db import session_scope
from inventory.models import Device, SshProfile
from playbooks.choices import HostState, RolloutStatus
from tests.playbooks.conftest import kiosk, running_fleet
from tests.playbooks.helpers import hosts, start_rollout
from tests.playbooks.kiosks import KioskFleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """A fleet of this module's own (127.0.4.x), so that what these tests do to kiosks
    never meets the session fleet's scenarios."""
    yield from running_fleet(
        tmp_path_factory.mktemp("fleet-4"), [f"127.0.4.{i}" for i in range(1, 6)]
    )


def test_unknown_host_key_is_refused(
    inventory: Engine,
    fleet: KioskFleet,
    releases: Path,
    rollout_settings: Settings,
    tmp_path: Path,
) -> None:
    real = kiosk(fleet, "kiosk-1")
    empty_known_hosts = tmp_path / "known_hosts"
    empty_known_hosts.write_text("")
    with session_scope(inventory) as session:
        session.add(
            SshProfile(
                name="kiosk-strict",
                username="root",
                key_file=str(fleet.client_key),
                known_hosts_file=str(empty_known_hosts),
            )
        )
        session.flush()
        session.add(
            Device(
                id="kiosk-stranger",
                site_id="kantor-desa-35-10-15-2004",
                role="kiosk",
                address=real.address,
                ssh_port=real.port,
                ssh_profile="kiosk-strict",
                tags=[],
            )
        )
    before = (real.current, real.releases())
    rid, summary = start_rollout(
        inventory, fleet, releases, "2.0.0", ["kiosk-stranger"], settings=rollout_settings, canary=0
    )
    assert summary is not None and summary.status != RolloutStatus.COMPLETED
    row = hosts(inventory, rid)["kiosk-stranger"]
    assert row.state in (HostState.PENDING, HostState.UNREACHABLE), row.state
    assert "host key" in (row.message or "").lower(), row.message
    assert (real.current, real.releases()) == before, "a kiosk with an unknown key was changed"
    assert empty_known_hosts.read_text() == "", "the unknown key must not be learned"
