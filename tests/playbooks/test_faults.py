"""Kiosk-side faults one by one (issue 17), each with the invariant checked afterwards:
real Ansible over real OpenSSH to this module's own sshd kiosks on 127.0.6.x, each with its
release area on a small tmpfs; plus unit tests of kiosk_release's own checks."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from playbooks.choices import HostState
from playbooks.runner import PLAYBOOK_DIR
from tests.playbooks.campaign import Campaign, Fault, Update
from tests.playbooks.kiosks import KioskFleet, release_problem


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "kiosk_release", PLAYBOOK_DIR / "library" / "kiosk_release.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kr = _module()


def _release(releases: Path, version: str, seq: int, *, when: float | None = None) -> Path:
    path = releases / version
    path.mkdir(parents=True)
    (path / "VERSION").write_text(version + "\n")
    (path / "run").write_text("#!/bin/sh\n")
    files = {name: kr._sha256(str(path / name)) for name in ("VERSION", "run")}
    (path / kr.MARKER).write_text(json.dumps({"version": version, "seq": seq, "files": files}))
    if when is not None:
        os.utime(path / kr.MARKER, (when, when))
    return path


# --------------------------------------------------------------------------- unit


def test_verify_names_a_damaged_or_partial_release(tmp_path: Path) -> None:
    good = _release(tmp_path, "1.0.0", 1)
    assert kr.verify(str(good)) == ""
    assert release_problem(good) == ""
    with (good / "run").open("a") as fh:
        fh.write("# edited\n")
    assert "run does not match its checksum" in kr.verify(str(good))
    partial = tmp_path / "1.1.0"
    partial.mkdir()
    (partial / "run").write_text("half")
    assert "no completeness marker" in kr.verify(str(partial))
    assert "missing" in kr.verify(str(tmp_path / "9.9.9"))


def test_prune_follows_install_order_not_a_skewed_clock(tmp_path: Path) -> None:
    # Installed 1, 2, 3, 4 in that order by kiosks whose clock jumped around: the marker
    # times say 2 is newest and 3 oldest. Keeping 3 must drop release 1, the first installed.
    now = time.time()
    paths = [
        _release(tmp_path, "1", 1, when=now),
        _release(tmp_path, "2", 2, when=now + 30 * 3600),
        _release(tmp_path, "3", 3, when=now - 26 * 3600),
        _release(tmp_path, "4", 4, when=now + 3600),
    ]
    pruned = kr._prune(str(tmp_path), 3, {os.path.realpath(paths[3])})
    assert pruned == ["1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2", "3", "4"]


def test_cleanup_removes_leftovers_of_an_interrupted_run_only(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    kept = _release(releases, "1.0.0", 1)
    (releases / ".unpack-2.0.0-abc").mkdir()
    (releases / ".unpack-2.0.0-abc" / "run").write_text("half")
    (releases / ".incoming.tar.gz").write_bytes(b"\x1f\x8b half")
    os.symlink(str(kept), tmp_path / ".current.new")
    removed = kr._cleanup(str(tmp_path), str(releases))
    assert sorted(removed) == [".current.new", ".incoming.tar.gz", ".unpack-2.0.0-abc"]
    assert [p.name for p in releases.iterdir()] == ["1.0.0"]
    assert kr.verify(str(kept)) == ""


def test_rollback_target_after_a_switch_is_the_recorded_previous(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    old, new = _release(releases, "1.0.0", 1), _release(releases, "2.0.0", 2)
    os.symlink(str(new), tmp_path / "current")
    os.symlink(str(old), tmp_path / "previous")
    assert kr._rollback_target(str(tmp_path), str(releases), str(new)) == (str(old), "")
    shutil.rmtree(old)  # deleted by hand: nothing complete is left to go back to
    assert kr._rollback_target(str(tmp_path), str(releases), str(new)) == ("", "")


# --------------------------------------------------------------------------- with sshd


@pytest.fixture(scope="module")
def fault_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """Three kiosks of this module's own, releases/ on a 512 KiB tmpfs each."""
    with KioskFleet(tmp_path_factory.mktemp("fleet-6"), [f"127.0.6.{i}" for i in (1, 2, 3)],
                    prefix="f", release_area_bytes=512 * 1024) as fleet:
        fleet.start_all()
        yield fleet


@pytest.fixture
def campaign(engine: Engine, sqlite_url: str, fault_fleet: KioskFleet,
             tmp_path: Path) -> Campaign:
    """A campaign on the fault fleet with no random faults (the tests set them)."""
    c = Campaign(
        fault_fleet, engine,
        Settings(database_url=sqlite_url, run_poller=False, service_hours="00:00-00:00",
                 service_days="mon"),
        tmp_path / "releases", random.Random(0), share=0.0,
    )
    c.seed_inventory()
    return c


def _safe_and_true(c: Campaign, updates: list[Update]) -> dict[str, Update]:
    for u in updates:
        assert not u.problem, (u.kiosk, u.fault, u.state, u.message, u.problem)
        assert not u.untruthful, (u.kiosk, u.fault, u.untruthful)
    return {u.kiosk: u for u in updates}


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_faults_leave_every_kiosk_on_a_complete_working_release(campaign: Campaign) -> None:
    c = campaign
    c.prepare()  # 1.0.0 then 1.0.1 on every kiosk
    names = [k.name for k in c.fleet.kiosks]
    f1, f2, f3 = (c.fleet.kiosks[i] for i in range(3))

    # Round 1: a power loss while the hung new release is health-checked (after the
    # switch); the release area full before the update; the current release deleted by
    # hand (older complete releases are left to fall back on).
    (f1.root / "hang-versions").write_text("2.1.0\n")
    try:
        updates = _safe_and_true(c, c.run_round(1, {
            names[0]: (Fault.POWER, "Health check the kiosk app over HTTP"),
            names[1]: (Fault.DISK_FULL, None),
            names[2]: (Fault.PREVIOUS_MISSING, None),
        }))
    finally:
        (f1.root / "hang-versions").unlink(missing_ok=True)
    # The kiosk rebooted on the hung release; the resumed update rolled it back to the
    # release recorded before the switch, not to "current" (which was already 2.1.0).
    assert updates[names[0]].fired and updates[names[0]].first_state == HostState.PENDING
    assert updates[names[0]].state == HostState.ROLLED_BACK, updates[names[0]]
    assert f1.current == "1.0.1"
    # Refused before anything was copied: still on 1.0.1, nothing new on the kiosk.
    assert updates[names[1]].state == HostState.FAILED
    assert "REFUSED" in updates[names[1]].message and "free" in updates[names[1]].message
    assert f2.current == "1.0.1" and f2.releases() == ["1.0.0", "1.0.1"]
    # Deleted by hand, yet updated: the rollback target was the complete 1.0.0.
    assert updates[names[2]].state == HostState.CHANGED and f3.current == "2.1.0"
    assert os.readlink(f3.root / "previous").endswith("/1.0.0")

    # Round 2: the current release damaged on a kiosk with nothing else complete left to
    # roll back to is refused; a link cut while unpacking recovers on resume.
    for entry in (f3.root / "releases").iterdir():
        if entry.name != "2.1.0" and entry.is_dir():
            shutil.rmtree(entry)
    with (f3.root / "releases" / "2.1.0" / "run").open("a") as fh:
        fh.write("# damaged by hand\n")
    updates = {u.kiosk: u for u in c.run_round(2, {
        names[1]: (Fault.CUT, "Verify the checksum and unpack the release"),
    })}
    assert updates[names[2]].state == HostState.FAILED
    assert "REFUSED" in updates[names[2]].message
    assert "no complete release is left" in updates[names[2]].message
    assert f3.current == "2.1.0" and f3.releases() == ["2.1.0"]  # untouched
    for name in names[:2]:
        assert not updates[name].problem and not updates[name].untruthful, updates[name]
        assert updates[name].state == HostState.CHANGED


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_boot_switches_current_away_from_a_damaged_release(campaign: Campaign) -> None:
    c = campaign
    kiosk = c.fleet.kiosks[0]
    if kiosk.current is None or len(kiosk.releases()) < 2:
        c.prepare()
    on = kiosk.current
    assert on is not None
    with (kiosk.root / "releases" / on / "VERSION").open("a") as fh:
        fh.write("damaged\n")
    c.fleet.power_off(kiosk)
    output = c.fleet.boot(kiosk)
    assert c.fleet.check(kiosk) == "", output
    assert kiosk.current != on
    assert release_problem(kiosk.root / "releases" / str(kiosk.current)) == ""
