"""The never-brick fault campaign (issue 17): many kiosk updates through the real rollout
code (ansible-runner, real OpenSSH sshd stand-ins), a random kiosk-side fault in a share of
them, and the invariant checked after every one.

Used by ``benchmarks/never_brick.py`` (1,000 updates) and ``tests/playbooks/
test_never_brick.py`` (a short campaign). Each round is one rollout of a new release to
every kiosk of the fleet (no canary, no halting, so every kiosk is tried); faults:

========================  =======================================================
``cut``                   the kiosk's SSH sessions are killed when a chosen task starts
``power``                 every process of the kiosk is killed when a chosen task starts;
                          the kiosk then "reboots" (:meth:`KioskFleet.boot`)
``disk_full``             the release area is full before the update (must be refused)
``disk_fills``            the release area fills up when the copy of the release starts
``hung_app``              the new release's app hangs (alive, ``/health`` never answers)
``crashing_app``          the new release's app exits at once
``previous_missing``      the release ``current`` points at was deleted by hand
``previous_corrupt``      a file of the release ``current`` points at was damaged
``clock_off``             the kiosk's clock is hours off (libfaketime) during the update
========================  =======================================================

After the rollout run (and the reboot of powered-off kiosks) the rollout is resumed while
kiosks are pending (as the operator or auto-resume would). Then every kiosk must hold the
invariant (:meth:`KioskFleet.check`) and its rollout record must say what it is on.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from core.settings import Settings
from inventory.db import session_scope
from inventory.models import Device, Region, Site, SshProfile
from playbooks.choices import HostState
from playbooks.models import RolloutHost
from playbooks.release import resolve_release
from playbooks.rollout import RolloutOptions, create_rollout, resume_rollout, run_rollout
from playbooks.sample_app import build_sample_release
from playbooks.targets import TargetFilter
from tests.playbooks.kiosks import Kiosk, KioskFleet


class Fault(StrEnum):
    """The kinds of kiosk-side fault of the campaign."""

    NONE = "none"
    CUT = "cut"
    POWER = "power"
    DISK_FULL = "disk_full"
    DISK_FILLS = "disk_fills"
    HUNG_APP = "hung_app"
    CRASHING_APP = "crashing_app"
    PREVIOUS_MISSING = "previous_missing"
    PREVIOUS_CORRUPT = "previous_corrupt"
    CLOCK_OFF = "clock_off"


FAULTS = [f for f in Fault if f != Fault.NONE]
# Tasks of kiosk-update.yml a link cut or a power loss is aimed at.
TASKS = [
    "Note the running release",
    "Copy the release tarball from the controller",
    "Verify the checksum and unpack the release",
    "Switch the current link atomically",
    "Restart the kiosk app (script)",
    "Health check the kiosk app over HTTP",
    "Roll back to the previous release",
]
CLOCK_OFFSETS = ["+9h", "-7h", "+30h", "-26h"]


@dataclass
class Update:
    """One kiosk update of the campaign and what came of it."""

    round: int
    kiosk: str
    version: str
    fault: Fault
    detail: str = ""
    fired_at: float | None = None
    fired: bool = False
    first_state: str = ""
    state: str = ""
    message: str = ""
    problem: str = ""
    untruthful: str = ""
    seconds_to_safe: float | None = None

    @property
    def bricked(self) -> bool:
        """The kiosk was left without a working release."""
        return bool(self.problem)

    @property
    def recovered_on_resume(self) -> bool:
        """The first run left it pending; a resume finished it."""
        return self.first_state == HostState.PENDING and self.state != HostState.PENDING


@dataclass
class Campaign:
    """A fleet, its database and the release directory of a campaign."""

    fleet: KioskFleet
    engine: Engine
    settings: Settings
    releases: Path
    rng: random.Random
    share: float = 0.3
    faults: list[Fault] = field(default_factory=lambda: list(FAULTS))
    updates: list[Update] = field(default_factory=list)
    log: Callable[[str], None] = print

    def __post_init__(self) -> None:
        # The stand-ins' playbook variables template per host: they are the administrator's
        # site variables file (the only vars Ansible templates), not a rollout's extra vars.
        if self.settings.playbook_vars_file is None:
            self.releases.mkdir(parents=True, exist_ok=True)
            path = self.releases.parent / "site-vars.json"
            path.write_text(json.dumps(self.fleet.extravars()))
            self.settings = self.settings.model_copy(update={"playbook_vars_file": path})

    # ------------------------------------------------------------------ setup

    def seed_inventory(self) -> None:
        """Inventory rows for the fleet (one village, an SSH profile)."""
        with session_scope(self.engine) as session:
            session.add(Region(code="35.10", name="Banyuwangi", level="kabupaten"))
            session.flush()
            session.add(Region(code="35.10.15", name="Glagah", level="kecamatan",
                               parent_code="35.10"))
            session.flush()
            session.add(Region(code="35.10.15.2004", name="Kemiren", level="desa",
                               parent_code="35.10.15"))
            session.flush()
            session.add(SshProfile(name="campaign", username="root",
                                   key_file=str(self.fleet.client_key),
                                   known_hosts_file=str(self.fleet.known_hosts)))
            session.add(Site(id="kemiren", name="Kemiren", kind="village_office",
                             village_code="35.10.15.2004", district_code="35.10.15", tags=[]))
            session.flush()
            for k in self.fleet.kiosks:
                session.add(Device(id=k.name, site_id="kemiren", role="kiosk",
                                   address=k.address, ssh_port=k.port,
                                   ssh_profile="campaign", tags=[]))

    def _rollout(self, version: str, hook: Callable[[Mapping[str, Any]], None] | None) -> int:
        build_sample_release(self.releases, version)
        release = resolve_release(version, release_dir=self.releases)
        rid = create_rollout(
            self.engine, release, target=TargetFilter(),
            options=RolloutOptions(canary=0, batch="100%", max_fail=100,
                                   forks=len(self.fleet.kiosks)),
            created_by="never-brick-campaign",
        )
        run_rollout(self.engine, rid, settings=self.settings, envvars=self.fleet.envvars(),
                    event_hook=hook)
        return rid

    def prepare(self) -> None:
        """Two clean releases on every kiosk (so each has a release to roll back to)."""
        for version in ("1.0.0", "1.0.1"):
            rid = self._rollout(version, None)
            states = {h.device_id: h.state for h in self._hosts(rid).values()}
            bad = {d: s for d, s in states.items() if s != HostState.CHANGED}
            if bad:
                raise RuntimeError(f"preparing {version} failed on {bad}")

    def _hosts(self, rid: int) -> dict[str, RolloutHost]:
        with session_scope(self.engine) as session:
            rows = session.scalars(select(RolloutHost).where(RolloutHost.rollout_id == rid))
            return {h.device_id: h for h in rows}

    # ------------------------------------------------------------------ faults

    def _before(self, kiosk: Kiosk, update: Update) -> None:
        fault = update.fault
        now = time.monotonic()
        current = kiosk.root / "current"
        if fault == Fault.DISK_FULL:
            free = self.fleet.fill_disk(kiosk, leave=8192)
            update.detail = f"{free} bytes free"
        elif fault == Fault.HUNG_APP:
            (kiosk.root / "hang-versions").write_text(update.version + "\n")
        elif fault == Fault.CRASHING_APP:
            (kiosk.root / "fail-versions").write_text(update.version + "\n")
        elif fault == Fault.PREVIOUS_MISSING:
            target = current.resolve()
            shutil.rmtree(target, ignore_errors=True)
            update.detail = f"deleted {target.name}"
        elif fault == Fault.PREVIOUS_CORRUPT:
            target = current.resolve()
            with (target / "run").open("ab") as fh:
                fh.write(b"\n# damaged by hand\n")
            update.detail = f"damaged {target.name}/run"
        elif fault == Fault.CLOCK_OFF:
            offset = self.rng.choice(CLOCK_OFFSETS)
            self.fleet.set_clock(kiosk, offset)
            update.detail = f"clock {offset}"
        else:
            return
        update.fired_at = now
        update.fired = True

    def _fire(self, kiosk: Kiosk, update: Update) -> None:
        update.fired_at = time.monotonic()
        update.fired = True
        if update.fault == Fault.CUT:
            self.fleet.cut(kiosk)
        elif update.fault == Fault.POWER:
            self.fleet.power_off(kiosk)
        elif update.fault == Fault.DISK_FILLS:
            self.fleet.fill_disk(kiosk, leave=0)

    def _after(self, kiosk: Kiosk, update: Update) -> None:
        self.fleet.unfill_disk(kiosk)
        for name in ("hang-versions", "fail-versions"):
            (kiosk.root / name).unlink(missing_ok=True)
        if kiosk.clock_offset:
            self.fleet.set_clock(kiosk, None)

    # ------------------------------------------------------------------ checks

    def _truth(self, kiosk: Kiosk, update: Update) -> str:
        """Why the record's state does not match the kiosk ("" when it does)."""
        on = kiosk.current
        if update.state in (HostState.CHANGED, HostState.OK):
            return "" if on == update.version else f"record {update.state}, kiosk on {on}"
        if update.state in (HostState.ROLLED_BACK, HostState.FAILED):
            return "" if on != update.version else f"record {update.state}, kiosk on {on}"
        if update.state == HostState.PENDING:
            return ""
        return f"unexpected state {update.state}"

    # ------------------------------------------------------------------ rounds

    def run_round(
        self, number: int, plan: Mapping[str, tuple[Fault, str | None]] | None = None
    ) -> list[Update]:
        """One rollout of a new release to every kiosk, faults included; returns its
        updates (also kept in :attr:`updates`). ``plan`` (kiosk name → fault and the task
        it is aimed at) replaces the random draw."""
        version = f"2.{number}.0"
        by_name = {k.name: k for k in self.fleet.kiosks}
        updates: dict[str, Update] = {}
        aims: dict[str, str] = {}
        for k in self.fleet.kiosks:
            fault, aim = Fault.NONE, None
            if plan is not None:
                fault, aim = plan.get(k.name, (Fault.NONE, None))
            elif self.rng.random() < self.share:
                fault = self.rng.choice(self.faults)
            updates[k.name] = Update(number, k.name, version, fault)
            if fault in (Fault.CUT, Fault.POWER):
                aims[k.name] = aim or self.rng.choice(TASKS)
                updates[k.name].detail = f"at {aims[k.name]!r}"
            elif fault == Fault.DISK_FILLS:
                aims[k.name] = "Copy the release tarball from the controller"
            self._before(k, updates[k.name])
        lock = threading.Lock()

        def hook(event: Mapping[str, Any]) -> None:
            if event.get("event") != "runner_on_start":
                return
            data = event.get("event_data") or {}
            host, task = data.get("host"), data.get("task")
            with lock:
                if host in aims and aims[host] == task:
                    del aims[host]
                    self._fire(by_name[host], updates[host])

        start = time.monotonic()
        rid = self._rollout(version, hook)
        powered = [n for n, u in updates.items() if u.fault == Fault.POWER and u.fired_at]
        for name in powered:
            self.fleet.boot(by_name[name])
        first = self._hosts(rid)
        for name, u in updates.items():
            u.first_state = first[name].state
            if u.fired_at is None:
                u.fired_at = start
        self._mark_safe(updates, by_name)
        for _ in range(3):
            if not any(h.state == HostState.PENDING for h in self._hosts(rid).values()):
                break
            resume_rollout(self.engine, rid, settings=self.settings,
                           envvars=self.fleet.envvars())
            self._mark_safe(updates, by_name)
        final = self._hosts(rid)
        for name, u in updates.items():
            k = by_name[name]
            u.state = final[name].state
            u.message = final[name].message or ""
            u.problem = self.fleet.check(k)
            u.untruthful = self._truth(k, u)
            self._after(k, u)
        self.updates.extend(updates.values())
        return list(updates.values())

    def _mark_safe(self, updates: Mapping[str, Update], by_name: Mapping[str, Kiosk]) -> None:
        for name, u in updates.items():
            if u.seconds_to_safe is None and not self.fleet.check(by_name[name]):
                u.seconds_to_safe = time.monotonic() - (u.fired_at or time.monotonic())

    # ------------------------------------------------------------------ report

    def table(self) -> str:
        """Per fault kind: count, hit (the fault fired: a task it aims at may not run),
        bricked, rolled back, failed (refused), recovered on
        resume, untruthful records, time to a safe state (median / max)."""
        header = (f"{'fault':<17}{'count':>6}{'hit':>5}{'bricked':>8}{'rolled':>7}{'failed':>7}"
                  f"{'resumed':>8}{'untrue':>7}{'safe med s':>11}{'safe max s':>11}")
        lines = [header, "-" * len(header)]
        kinds = [Fault.NONE, *FAULTS]
        for kind in [*kinds, None]:
            rows = [u for u in self.updates if kind is None or u.fault == kind]
            if not rows:
                continue
            times = sorted(u.seconds_to_safe for u in rows if u.seconds_to_safe is not None)
            med = f"{times[len(times) // 2]:.1f}" if times else "-"
            top = f"{times[-1]:.1f}" if times else "-"
            lines.append(
                f"{(kind or 'all'):<17}{len(rows):>6}{sum(u.fired for u in rows):>5}"
                f"{sum(u.bricked for u in rows):>8}"
                f"{sum(u.state == HostState.ROLLED_BACK for u in rows):>7}"
                f"{sum(u.state == HostState.FAILED for u in rows):>7}"
                f"{sum(u.recovered_on_resume for u in rows):>8}"
                f"{sum(bool(u.untruthful) for u in rows):>7}{med:>11}{top:>11}"
            )
        return "\n".join(lines)
