"""A small fibre tree for the alerts tests, and helpers to set observed states.

    noc-banyuwangi (olt-noc)
      └─ fo-core-glagah ─ pop-glagah (rtr-pop-glagah, olt-glagah)
            ├─ fo-glagah-kemiren   ─ kantor-desa-kemiren   (rtr-, ups-, kiosk-kemiren-1)
            ├─ fo-glagah-olehsari  ─ kantor-desa-olehsari  (rtr-, ups-, kiosk-olehsari-1)
            └─ fo-glagah-banjarsari ─ kantor-kel-banjarsari (rtr-, ups-, kiosk-banjarsari-1)
      └─ fo-core-rogojampi ─ kantor-desa-rogojampi (rtr-, ups-, kiosk-rogojampi-1)
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, update

from collectors.models import DeviceState, InterfaceState, LinkState, StateTransition
from core.timeutil import utcnow
from inventory.models import Device, Link, Region, Site

VILLAGES = {
    "kemiren": ("kantor-desa-kemiren", "35.10.15.2004", "Kemiren", "desa", "35.10.15"),
    "olehsari": ("kantor-desa-olehsari", "35.10.15.2005", "Olehsari", "desa", "35.10.15"),
    "banjarsari": ("kantor-kel-banjarsari", "35.10.15.1003", "Banjarsari", "kelurahan",
                   "35.10.15"),
    "rogojampi": ("kantor-desa-rogojampi", "35.10.13.2013", "Rogojampi", "desa", "35.10.13"),
}
GLAGAH_VILLAGES = ("kemiren", "olehsari", "banjarsari")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(engine: Engine) -> None:
    """Insert the regions, sites, devices and links of the tree above."""
    regions = [
        {"code": "35", "name": "Jawa Timur", "level": "provinsi", "parent_code": None},
        {"code": "35.10", "name": "Banyuwangi", "level": "kabupaten", "parent_code": "35"},
        {"code": "35.10.15", "name": "Glagah", "level": "kecamatan", "parent_code": "35.10"},
        {"code": "35.10.13", "name": "Rogojampi", "level": "kecamatan", "parent_code": "35.10"},
        {"code": "35.10.32", "name": "Banyuwangi", "level": "kecamatan", "parent_code": "35.10"},
        {"code": "35.10.32.1001", "name": "Kota \"Lama\"\\Baru", "level": "kelurahan",
         "parent_code": "35.10.32"},
    ]
    sites = [
        {"id": "noc-banyuwangi", "name": "NOC Diskominfo", "kind": "noc",
         "village_code": "35.10.32.1001", "district_code": "35.10.32"},
        {"id": "pop-glagah", "name": "PoP Glagah", "kind": "pop",
         "village_code": "35.10.15.2004", "district_code": "35.10.15"},
    ]
    devices = [
        {"id": "olt-noc", "site_id": "noc-banyuwangi", "role": "olt", "address": "10.35.0.1"},
        {"id": "rtr-pop-glagah", "site_id": "pop-glagah", "role": "router",
         "address": "10.35.1.1"},
        {"id": "olt-glagah", "site_id": "pop-glagah", "role": "olt", "address": "10.35.1.2"},
    ]
    links = [
        {"id": "fo-core-glagah", "medium": "fibre", "a_device": "olt-noc",
         "a_interface": "gpon0/1", "z_device": "rtr-pop-glagah", "z_interface": "ether1",
         "capacity_bps": 10_000_000_000, "uplink_of": "pop-glagah"},
    ]
    for n, (key, (site, village, vname, level, district)) in enumerate(VILLAGES.items()):
        regions.append({"code": village, "name": vname, "level": level, "parent_code": district})
        sites.append({"id": site, "name": f"Kantor {vname}", "kind": "village_office",
                      "village_code": village, "district_code": district})
        for role, last in (("router", 1), ("ups", 2), ("kiosk", 10)):
            did = f"kiosk-{key}-1" if role == "kiosk" else f"{role[:3].replace('rou', 'rtr')}-{key}"
            devices.append({"id": did, "site_id": site, "role": role,
                            "address": f"10.35.{5 + n}.{last}"})
        upstream = "olt-noc" if key == "rogojampi" else "olt-glagah"
        lid = "fo-core-rogojampi" if key == "rogojampi" else f"fo-glagah-{key}"
        links.append({"id": lid, "medium": "fibre", "a_device": upstream,
                      "a_interface": f"gpon0/{n + 2}", "z_device": f"rtr-{key}",
                      "z_interface": "ether1", "capacity_bps": 100_000_000, "uplink_of": site})
    with engine.begin() as conn:
        conn.execute(insert(Region), regions)
        conn.execute(insert(Site), sites)
        conn.execute(insert(Device), devices)
        conn.execute(insert(Link), links)


def set_all_up(engine: Engine, *, at: datetime | None = None) -> None:
    """Every device up (UPS on mains, kiosks on app 2.4.1) and every link up."""
    at = at or utcnow()
    with engine.begin() as conn:
        conn.execute(DeviceState.__table__.delete())
        conn.execute(InterfaceState.__table__.delete())
        conn.execute(LinkState.__table__.delete())
        rows = []
        for did, role in conn.execute(Device.__table__.select().with_only_columns(
                Device.id, Device.role)):
            rows.append({
                "device_id": did, "status": "up", "observed_status": "up", "since": at,
                "protocol": "snmp", "last_poll_at": at, "last_ok_at": at,
                "poll_duration_seconds": 0.05, "polls_total": 10, "errors_total": 1,
                "timeouts_total": 0, "sys_name": did,
                "ups_on_battery": False if role == "ups" else None,
                "ups_charge_percent": 100.0 if role == "ups" else None,
                "kiosk_app_version": "2.4.1" if role == "kiosk" else None,
                "kiosk_app_active": True if role == "kiosk" else None,
                "kiosk_disk_free_bytes": 20 * 2**30 if role == "kiosk" else None,
                "kiosk_disk_total_bytes": 64 * 2**30 if role == "kiosk" else None,
                "updated_at": at, "checked_at": at,
            })
        conn.execute(insert(DeviceState), rows)
        ifs = [
            {"device_id": r["device_id"], "if_index": 1, "name": "ether1", "admin_up": True,
             "oper_up": True, "speed_mbps": 1000, "in_octets_total": 1000,
             "out_octets_total": 2000, "updated_at": at}
            for r in rows if r["device_id"].startswith(("rtr-", "olt-"))
        ]
        conn.execute(insert(InterfaceState), ifs)
        links = [{"link_id": lid, "status": "up", "since": at, "updated_at": at,
                  "checked_at": at}
                 for (lid,) in conn.execute(Link.__table__.select().with_only_columns(Link.id))]
        conn.execute(insert(LinkState), links)


def set_device(engine: Engine, device_id: str, status: str, *, at: datetime | None = None,
               **fields: object) -> None:
    """Set one device's state (and record the transition)."""
    at = at or utcnow()
    with engine.begin() as conn:
        conn.execute(update(DeviceState).where(DeviceState.device_id == device_id).values(
            status=status, observed_status=status, since=at, last_poll_at=at, checked_at=at,
            **fields))
        conn.execute(insert(StateTransition).values(
            kind="device", subject=device_id, from_status="up", to_status=status, at=at))


def set_link(engine: Engine, link_id: str, status: str, *, at: datetime | None = None) -> None:
    """Set one link's state (and record the transition)."""
    at = at or utcnow()
    with engine.begin() as conn:
        conn.execute(update(LinkState).where(LinkState.link_id == link_id).values(
            status=status, since=at, updated_at=at, checked_at=at))
        conn.execute(insert(StateTransition).values(
            kind="link", subject=link_id, from_status="up", to_status=status, at=at))


def fibre_cut(engine: Engine, *, at: datetime | None = None) -> None:
    """fo-core-glagah cut: the link down, everything behind it unreachable."""
    at = at or utcnow()
    set_link(engine, "fo-core-glagah", "down", at=at)
    for key in GLAGAH_VILLAGES:
        set_link(engine, f"fo-glagah-{key}", "down", at=at)
        for did in (f"rtr-{key}", f"ups-{key}", f"kiosk-{key}-1"):
            set_device(engine, did, "unreachable", at=at)
    for did in ("rtr-pop-glagah", "olt-glagah"):
        set_device(engine, did, "unreachable", at=at)


def ago(**kwargs: float) -> datetime:
    """``utcnow() - timedelta(**kwargs)``."""
    return utcnow() - timedelta(**kwargs)
