"""Fixtures of the rollout tests: a fleet of sshd kiosks on 127.0.3.x (session scope),
sample releases, and inventory rows pointing at the kiosks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from inventory.db import session_scope
from inventory.models import Device, Region, Site, SshProfile
from playbooks.sample_app import build_sample_release
from tests.playbooks.kiosks import Kiosk, KioskFleet

ADDRESSES = ["127.0.3.1", "127.0.3.2", "127.0.3.3", "127.0.3.4", "127.0.3.5"]
# kiosk-1, kiosk-2 in desa Kemiren (kec. Glagah), kiosk-3, kiosk-4 in kec. Licin, kiosk-5 Glagah
PLACES = {
    "kiosk-1": ("35.10.15.2004", "35.10.15"),
    "kiosk-2": ("35.10.15.2004", "35.10.15"),
    "kiosk-3": ("35.10.16.2001", "35.10.16"),
    "kiosk-4": ("35.10.16.2001", "35.10.16"),
    "kiosk-5": ("35.10.15.2005", "35.10.15"),
}


def running_fleet(base: Path, addresses: list[str]) -> Iterator[KioskFleet]:
    """Five sshd kiosks on ``addresses``; kiosk-1..4 up, kiosk-5 down (the offline village)."""
    with KioskFleet(base, addresses) as kiosks:
        for k in kiosks.kiosks[:4]:
            kiosks.start(k)
        yield kiosks


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """The session's fleet on 127.0.3.x (see :func:`running_fleet`)."""
    yield from running_fleet(tmp_path_factory.mktemp("fleet"), ADDRESSES)


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release directory: 1.0.0, 1.1.0 and 2.0.0 good, 9.9.9-broken answers 500."""
    directory = tmp_path_factory.mktemp("releases")
    for version in ("1.0.0", "1.1.0", "1.2.0", "2.0.0", "3.0.0"):
        build_sample_release(directory, version)
    build_sample_release(directory, "9.9.9-broken", broken=True)
    return directory


def kiosk(fleet: KioskFleet, name: str) -> Kiosk:
    """The kiosk called ``name``."""
    return next(k for k in fleet.kiosks if k.name == name)


def add_kiosks(engine: Engine, fleet: KioskFleet, *, bad_address: str | None = None) -> None:
    """Inventory rows for the fleet: regions, sites, an SSH profile and the kiosks."""
    with session_scope(engine) as session:
        session.add(Region(code="35.10", name="Banyuwangi", level="kabupaten"))
        session.flush()
        for code, name in (("35.10.15", "Glagah"), ("35.10.16", "Licin")):
            session.add(Region(code=code, name=name, level="kecamatan", parent_code="35.10"))
        session.flush()
        for code, name, parent in (
            ("35.10.15.2004", "Kemiren", "35.10.15"),
            ("35.10.15.2005", "Olehsari", "35.10.15"),
            ("35.10.16.2001", "Licin", "35.10.16"),
        ):
            session.add(Region(code=code, name=name, level="desa", parent_code=parent))
        session.flush()
        session.add(
            SshProfile(
                name="kiosk-root",
                username="root",
                key_file=str(fleet.client_key),
                known_hosts_file=str(fleet.known_hosts),
            )
        )
        sites = {}
        for village, district in sorted(set(PLACES.values())):
            site_id = f"kantor-desa-{village.replace('.', '-')}"
            sites[village] = site_id
            session.add(
                Site(
                    id=site_id,
                    name=f"Kantor Desa {village}",
                    kind="village_office",
                    village_code=village,
                    district_code=district,
                    tags=[],
                )
            )
        session.flush()
        for k in fleet.kiosks:
            village, _district = PLACES[k.name]
            session.add(
                Device(
                    id=k.name,
                    site_id=sites[village],
                    role="kiosk",
                    address=k.address,
                    ssh_port=k.port,
                    ssh_profile="kiosk-root",
                    tags=["pilot"] if k.name in ("kiosk-1", "kiosk-2") else [],
                )
            )
        if bad_address is not None:
            session.add(
                Device(
                    id="kiosk-evil",
                    site_id=sites["35.10.16.2001"],
                    role="kiosk",
                    address=bad_address,
                    ssh_port=22,
                    ssh_profile="kiosk-root",
                    tags=["evil"],
                )
            )


@pytest.fixture
def inventory(engine: Engine, fleet: KioskFleet) -> Engine:
    """A migrated database holding the fleet's inventory."""
    add_kiosks(engine, fleet)
    return engine


def site_vars_file(fleet: KioskFleet, directory: Path) -> Path:
    """The fleet's playbook variables (they template ``inventory_hostname`` and
    ``ansible_host``) as the administrator's site variables file, the one place Ansible
    may template from (``KENTONGAN_PLAYBOOK_VARS_FILE``)."""
    path = directory / "site-vars.json"
    path.write_text(json.dumps(fleet.extravars()))
    return path


@pytest.fixture
def rollout_settings(sqlite_url: str, fleet: KioskFleet, tmp_path: Path) -> Settings:
    """Settings for rollouts in tests: no service hours on any day, 7 days to give up,
    the fleet's site variables."""
    return Settings(
        database_url=sqlite_url,
        run_poller=False,
        service_hours="00:00-00:00",
        service_days="mon",
        rollout_unreachable_after_days=7,
        playbook_vars_file=site_vars_file(fleet, tmp_path),
    )
