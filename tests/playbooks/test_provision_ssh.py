"""``kiosk-provision.yml`` and ``kiosk-facts.yml`` over real SSH on a test kiosk.

Tasks that need systemd, apt or /etc (user, packages, time zone, unit enabling, service
reloads) are guarded by ``kiosk_manage_system`` and off here; every file the playbook
writes is checked, and the snmpd and sshd fragments are loaded by the real daemons.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from inventory.db import session_scope
from playbooks.facts import collect_facts, provision
from playbooks.models import KioskFacts
from playbooks.sample_app import release_filename
from playbooks.targets import TargetFilter
from tests.playbooks.conftest import kiosk, site_vars_file
from tests.playbooks.helpers import app_version
from tests.playbooks.kiosks import Kiosk, KioskFleet, wait_port
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

EXTEND_OUTPUT_1LINE = "1.3.6.1.4.1.8072.1.3.2.3.1.1"


def provision_vars(fleet: KioskFleet) -> dict[str, object]:
    etc = str(fleet.base / "roots") + "/{{ inventory_hostname }}/etc"
    return fleet.extravars() | {
        "kiosk_systemd_dir": etc + "/systemd",
        "kiosk_snmpd_conf_dir": etc + "/snmp",
        "kiosk_sshd_conf_dir": etc + "/ssh",
        "kiosk_url": "https://smartkampung.example/desa?id=1&mode=kiosk",
    }


def _install_by_hand(k: Kiosk, releases: Path, version: str) -> None:
    """Put a release in place without Ansible (setup for the watchdog check)."""
    target = k.root / "releases" / f"manual-{version}"
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(releases / release_filename(version)) as tar:
        tar.extractall(target, filter="data")
    (k.root / "current.tmp").symlink_to(target)
    os.replace(k.root / "current.tmp", k.root / "current")


@pytest.fixture(scope="module")
def provisioned(
    fleet: KioskFleet, releases: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Kiosk, list[int]]]:
    from inventory.db import make_engine
    from kentongan.app import upgrade
    from tests.playbooks.conftest import add_kiosks

    directory = tmp_path_factory.mktemp("prov")
    engine = make_engine(f"sqlite:///{directory / 'k.db'}")
    site_vars = directory / "site-vars.json"
    site_vars.write_text(json.dumps(provision_vars(fleet)))
    upgrade(engine)
    add_kiosks(engine, fleet)
    k = kiosk(fleet, "kiosk-1")
    changed = []
    for _ in range(2):
        result = provision(engine, TargetFilter(devices=("kiosk-1",)),
                           envvars=fleet.envvars(), site_vars_file=site_vars)
        assert result.status == "successful", result
        changed.append(result.stats.get("changed", {}).get("kiosk-1", 0))
    engine.dispose()
    yield k, changed


def test_provision_writes_everything_and_second_run_changes_nothing(
    provisioned: tuple[Kiosk, list[int]]
) -> None:
    k, changed = provisioned
    assert changed[0] > 0 and changed[1] == 0
    etc = k.root / "etc"
    browser = (etc / "systemd" / "kiosk-browser.service").read_text()
    assert "--kiosk" in browser
    assert "'https://smartkampung.example/desa?id=1&mode=kiosk'" in browser
    app_unit = (etc / "systemd" / "kiosk-app.service").read_text()
    assert f"ExecStart={k.root}/current/run" in app_unit and "Restart=always" in app_unit
    assert "kioskctl watchdog" in (etc / "systemd" / "kiosk-watchdog.service").read_text()
    assert "OnUnitActiveSec=1min" in (etc / "systemd" / "kiosk-watchdog.timer").read_text()
    sshd = (etc / "ssh" / "50-kentongan-kiosk.conf").read_text()
    assert "PasswordAuthentication no" in sshd and "AuthenticationMethods publickey" in sshd
    assert os.access(k.root / "bin" / "kioskctl", os.X_OK)


def test_sshd_fragment_is_valid_for_sshd(provisioned: tuple[Kiosk, list[int]],
                                         fleet: KioskFleet, tmp_path: Path) -> None:
    k, _ = provisioned
    config = tmp_path / "sshd_config"
    config.write_text(f"Include {k.root}/etc/ssh/50-kentongan-kiosk.conf\n"
                      f"HostKey {fleet.host_key}\nUsePAM no\n")
    proc = subprocess.run(["/usr/sbin/sshd", "-T", "-f", str(config)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "passwordauthentication no" in proc.stdout
    assert "authenticationmethods publickey" in proc.stdout


def _extend_oid(name: str) -> str:
    return EXTEND_OUTPUT_1LINE + "." + ".".join(str(x) for x in [len(name), *name.encode()])


def test_snmpd_extend_exposes_app_version_and_watchdog_restarts_app(
    provisioned: tuple[Kiosk, list[int]], fleet: KioskFleet, releases: Path, tmp_path: Path
) -> None:
    k, _ = provisioned
    if k.current is None:
        _install_by_hand(k, releases, "1.0.0")
    kioskctl = str(k.root / "bin" / "kioskctl")
    subprocess.run([kioskctl, "ensure"], check=True, capture_output=True, timeout=30)
    version = (k.root / "current" / "VERSION").read_text().strip()

    port = free_port(k.address, kind="udp")
    conf = tmp_path / "snmpd.conf"
    conf.write_text(
        f"agentaddress udp:{k.address}:{port}\n"
        "rocommunity kentongan-test 127.0.0.0/8\n"
        f"includeFile {k.root}/etc/snmp/kentongan-kiosk.conf\n"
    )
    snmpd = subprocess.Popen(
        ["/usr/sbin/snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(tmp_path / "snmpd.log"),
         "-p", str(tmp_path / "snmpd.pid")],
        stdin=subprocess.DEVNULL,
    )
    try:
        def get(oid: str) -> str:
            deadline = time.monotonic() + 10
            while True:
                proc = subprocess.run(
                    ["snmpget", "-v2c", "-c", "kentongan-test", "-Oqv", "-t", "1", "-r", "1",
                     f"{k.address}:{port}", oid],
                    capture_output=True, text=True, timeout=30,
                )
                if proc.returncode == 0 or time.monotonic() > deadline:
                    return proc.stdout.strip().strip('"')
                time.sleep(0.2)

        assert get(_extend_oid("kiosk-app-version")) == version
        assert subprocess.run([kioskctl, "active"], capture_output=True, text=True,
                              timeout=30).stdout.strip() == "1"

        # The app dies: snmpd says so (snmpd caches extend output, so ask once), and the
        # watchdog brings it back.
        pid = k.app_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while k.app_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert get(_extend_oid("kiosk-app-active")) == "0"
        out = subprocess.run([kioskctl, "watchdog"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
        assert out.strip() == "restarted"
        wait_port(k.address, fleet.app_port)
        assert app_version(fleet, k) == version
        assert subprocess.run([kioskctl, "watchdog"], capture_output=True, text=True,
                              timeout=30).stdout.strip() == "healthy"
    finally:
        snmpd.terminate()
        snmpd.wait(timeout=10)


def test_facts_come_back_into_the_database(
    provisioned: tuple[Kiosk, list[int]], inventory: Engine, fleet: KioskFleet, tmp_path: Path
) -> None:
    k, _ = provisioned
    reports = collect_facts(inventory, TargetFilter(devices=("kiosk-1", "kiosk-2")),
                            envvars=fleet.envvars(),
                            site_vars_file=site_vars_file(fleet, tmp_path))
    assert set(reports) == {"kiosk-1", "kiosk-2"}
    one = reports["kiosk-1"]
    expected = (k.root / "current" / "VERSION").read_text().strip() if k.current else None
    assert one.app_version == expected
    assert one.os_name and one.kernel
    assert one.disk_total_bytes and one.disk_free_bytes and one.disk_free_bytes > 0
    with session_scope(inventory) as session:
        row = session.get(KioskFacts, "kiosk-1")
        assert row is not None and row.app_version == expected and row.os_name == one.os_name
