"""Faults on demand in the simulated fleet: cut and repair fibre links, cut and restore a
site's mains power, silence a device's agent, switch a kiosk stand-in off and on.

A cut makes the link's A-end interface report oper down and every device behind the link
stop answering; a repair undoes exactly that. Faults overlap safely: a device stays silent
while any fault still holds it. Every fault is kept in :attr:`FaultInjector.log` with when
it began and ended (UTC), who made it and what it touched, so the soak test and the
benchmark can measure detection and clearing against it. Example::

    faults = FaultInjector.from_inventory(session, fleet, kiosks=stand_ins)
    fault = faults.cut("fo-noc-glagah", duration=600, by="demo-admin")
    faults.repair("fo-noc-glagah", by="demo-admin")
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.simfleet import SimFleet, SimFleetError
from collectors.simfleet.kiosks import KioskStandIns
from core.timeutil import utcnow
from inventory.models import Link
from inventory.topology import Node, Topology

logger = logging.getLogger(__name__)


class FaultKind(StrEnum):
    """What a fault does."""

    CUT = "cut"
    POWER = "power"
    SILENCE = "silence"
    KIOSK = "kiosk"


@dataclass
class Fault:
    """One injected fault, open until :attr:`ended_at` is set."""

    id: int
    kind: FaultKind
    subject: str
    began_at: datetime
    by: str
    devices: tuple[str, ...] = ()
    ended_at: datetime | None = None
    ends_by: datetime | None = None
    ended_by: str | None = None

    @property
    def active(self) -> bool:
        """Whether the fault still holds."""
        return self.ended_at is None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "subject": self.subject,
            "began_at": self.began_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "ends_by": self.ends_by.isoformat() if self.ends_by else None,
            "by": self.by,
            "ended_by": self.ended_by,
            "devices": list(self.devices),
        }


class FaultError(SimFleetError, ValueError):
    """A fault request names something the fleet does not have, or is not possible."""


@dataclass
class FaultInjector:
    """Makes and clears faults in a running :class:`SimFleet` (thread-safe)."""

    fleet: SimFleet
    topology: Topology
    link_a_interface: dict[str, tuple[str, str]]
    kiosks: KioskStandIns | None = None
    log: list[Fault] = field(default_factory=list)
    _silenced: dict[str, set[int]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _timers: dict[int, threading.Timer] = field(default_factory=dict)

    @classmethod
    def from_inventory(cls, session: Session, fleet: SimFleet, *,
                       kiosks: KioskStandIns | None = None) -> FaultInjector:
        """An injector for ``fleet`` with the inventory's topology and link ends."""
        links = {lid: (a, a_if) for lid, a, a_if in
                 session.execute(select(Link.id, Link.a_device, Link.a_interface))}
        return cls(fleet=fleet, topology=Topology.load(session), link_a_interface=links,
                   kiosks=kiosks)

    # ------------------------------------------------------------------ queries

    def active(self) -> list[Fault]:
        """The faults that still hold, oldest first."""
        with self._lock:
            return [f for f in self.log if f.active]

    def _simulated(self, device_id: str) -> bool:
        return device_id in self.fleet.endpoints or (
            self.kiosks is not None and device_id in self.kiosks.hosts)

    def _open(self, kind: FaultKind, subject: str) -> Fault | None:
        for fault in self.log:
            if fault.active and fault.kind == kind and fault.subject == subject:
                return fault
        return None

    def _new(self, kind: FaultKind, subject: str, by: str, devices: tuple[str, ...],
             duration: float | None) -> Fault:
        if duration is not None and duration <= 0:
            raise FaultError(f"duration must be positive, got {duration} s")
        now = utcnow()
        fault = Fault(id=len(self.log) + 1, kind=kind, subject=subject, began_at=now, by=by,
                      devices=devices)
        self.log.append(fault)
        if duration is not None:
            fault.ends_by = now + timedelta(seconds=duration)
            timer = threading.Timer(duration, self._expire, args=(fault.id,))
            timer.daemon = True
            self._timers[fault.id] = timer
            timer.start()
        return fault

    def _expire(self, fault_id: int) -> None:
        with self._lock:
            fault = self.log[fault_id - 1]
            if fault.active:
                self._end(fault, by=f"{fault.by} (timer)")

    def _end(self, fault: Fault, *, by: str) -> Fault:
        timer = self._timers.pop(fault.id, None)
        if timer is not None:
            timer.cancel()
        if fault.kind in (FaultKind.CUT, FaultKind.SILENCE):
            self._unsilence(fault.id, fault.devices)
        if fault.kind == FaultKind.CUT:
            a_dev, a_if = self.link_a_interface[fault.subject]
            if self.fleet.has_interface(a_dev, a_if):
                self.fleet.set_interface_down(a_dev, a_if, False)
        elif fault.kind == FaultKind.POWER:
            for ups in fault.devices:
                self.fleet.set_on_battery(ups, False)
        elif fault.kind == FaultKind.KIOSK:
            if fault.devices:
                self._unsilence(fault.id, fault.devices)
            elif self.kiosks is not None:
                self.kiosks.start(fault.subject)
        fault.ended_at = utcnow()
        fault.ended_by = by
        logger.warning("demo fault %s %s cleared by %s", fault.kind, fault.subject, by)
        return fault

    def _reachable(self, device: str, reachable: bool) -> None:
        if self.kiosks is not None and device in self.kiosks.hosts:
            if reachable:
                self.kiosks.start(device)
            else:
                self.kiosks.unreachable(device)
        else:
            self.fleet.set_down(device, not reachable)

    def _silence(self, fault_id: int, devices: tuple[str, ...]) -> None:
        for device in devices:
            holders = self._silenced.setdefault(device, set())
            if not holders:
                self._reachable(device, False)
            holders.add(fault_id)

    def _unsilence(self, fault_id: int, devices: tuple[str, ...]) -> None:
        for device in devices:
            holders = self._silenced.get(device, set())
            holders.discard(fault_id)
            if not holders:
                self._silenced.pop(device, None)
                self._reachable(device, True)

    # ------------------------------------------------------------------ faults

    def cut(self, link_id: str, *, by: str, duration: float | None = None) -> Fault:
        """Cut fibre link ``link_id``: its A-end interface goes oper down (when the
        simulated A-end device has that interface) and every simulated device behind it
        goes silent (a kiosk stand-in's sshd stops listening; its app keeps running);
        repaired after ``duration`` s if given."""
        with self._lock:
            if link_id not in self.topology.link_ends:
                raise FaultError(f"no link {link_id!r} in the inventory; list them with "
                                 "`kentongan inventory export --format yaml`")
            if (open_fault := self._open(FaultKind.CUT, link_id)) is not None:
                raise FaultError(f"link {link_id} is already cut (fault {open_fault.id}); "
                                 f"repair it first: kentongan demo fault repair {link_id}")
            behind = tuple(sorted(
                n.id for n in self.topology.behind(Node("link", link_id))
                if n.kind == "device" and self._simulated(n.id)))
            a_dev, a_if = self.link_a_interface[link_id]
            fault = self._new(FaultKind.CUT, link_id, by, behind, duration)
            if self.fleet.has_interface(a_dev, a_if):
                self.fleet.set_interface_down(a_dev, a_if, True)
            self._silence(fault.id, behind)
            logger.warning("demo fault: %s cut by %s (%d devices behind it)", link_id, by,
                           len(behind))
            return fault

    def repair(self, link_id: str, *, by: str) -> Fault:
        """Repair a cut link."""
        with self._lock:
            fault = self._open(FaultKind.CUT, link_id)
            if fault is None:
                raise FaultError(f"link {link_id!r} is not cut; cut links: "
                                 + (", ".join(f.subject for f in self.active()
                                              if f.kind == FaultKind.CUT) or "none"))
            return self._end(fault, by=by)

    def power(self, site_id: str, *, on: bool, by: str,
              duration: float | None = None) -> Fault:
        """Cut (``on=False``) or restore the mains power of a site: its UPSes go on battery
        and back (the devices keep running on the UPS)."""
        with self._lock:
            if site_id not in self.topology.site_kind:
                raise FaultError(f"no site {site_id!r} in the inventory")
            open_fault = self._open(FaultKind.POWER, site_id)
            if on:
                if open_fault is None:
                    raise FaultError(f"site {site_id} has mains power already")
                return self._end(open_fault, by=by)
            if open_fault is not None:
                raise FaultError(f"site {site_id} is already off mains (fault {open_fault.id})")
            upses = tuple(sorted(
                d for d, s in self.topology.device_site.items()
                if s == site_id and self.topology.device_role.get(d) == "ups"
                and d in self.fleet.endpoints))
            if not upses:
                raise FaultError(f"site {site_id} has no simulated UPS to go on battery")
            fault = self._new(FaultKind.POWER, site_id, by, upses, duration)
            for ups in upses:
                self.fleet.set_on_battery(ups, True)
            logger.warning("demo fault: mains lost at %s by %s", site_id, by)
            return fault

    def silence(self, device_id: str, *, by: str, duration: float | None = None) -> Fault:
        """Make one device's agent stop answering (until :meth:`unsilence`)."""
        with self._lock:
            if device_id not in self.fleet.endpoints:
                raise FaultError(f"{device_id!r} is not a simulated device")
            if (open_fault := self._open(FaultKind.SILENCE, device_id)) is not None:
                raise FaultError(f"{device_id} is already silent (fault {open_fault.id})")
            fault = self._new(FaultKind.SILENCE, device_id, by, (device_id,), duration)
            self._silence(fault.id, (device_id,))
            return fault

    def unsilence(self, device_id: str, *, by: str) -> Fault:
        """Let a silenced device answer again."""
        with self._lock:
            fault = self._open(FaultKind.SILENCE, device_id)
            if fault is None:
                raise FaultError(f"{device_id!r} is not silenced")
            return self._end(fault, by=by)

    def kiosk(self, device_id: str, *, running: bool, by: str,
              duration: float | None = None) -> Fault:
        """Switch a kiosk off (``running=False``: its sshd stand-in and app stop, or its
        SNMP agent goes silent) or on again."""
        with self._lock:
            if self.topology.device_role.get(device_id) != "kiosk":
                raise FaultError(f"{device_id!r} is not a kiosk in the inventory")
            open_fault = self._open(FaultKind.KIOSK, device_id)
            if running:
                if open_fault is None:
                    raise FaultError(f"kiosk {device_id} is not stopped")
                return self._end(open_fault, by=by)
            if open_fault is not None:
                raise FaultError(f"kiosk {device_id} is already stopped")
            standin = self.kiosks is not None and device_id in self.kiosks.hosts
            if not standin and device_id not in self.fleet.endpoints:
                raise FaultError(f"kiosk {device_id} is not simulated in this demo")
            fault = self._new(FaultKind.KIOSK, device_id, by,
                              () if standin else (device_id,), duration)
            if standin and self.kiosks is not None:
                self.kiosks.stop(device_id)
            else:
                self._silence(fault.id, (device_id,))
            logger.warning("demo fault: kiosk %s stopped by %s", device_id, by)
            return fault

    def close(self) -> None:
        """Cancel pending repair timers (the fleet itself is stopped by its owner)."""
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
