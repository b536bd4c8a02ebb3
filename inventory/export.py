"""Exports of the inventory: Ansible JSON inventory, Prometheus http_sd, YAML (round-trips
through ``kentongan inventory import``)."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.timeutil import as_utc
from inventory.models import (
    Device,
    Link,
    MaintenanceWindow,
    Site,
    SiteFacility,
    SnmpProfile,
    SshProfile,
)
from inventory.query import DeviceFilter, has_tags
from inventory.topology import Topology

logger = logging.getLogger(__name__)


def group_name(prefix: str, value: str) -> str:
    """A valid Ansible group name: ``district_35_10_15``, ``tag_kiosk``."""
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9_]', '_', value)}"


def _device_query(
    *,
    district: str | None = None,
    village: str | None = None,
    role: str | None = None,
    tags: Iterable[str] | None = None,
    devices: Iterable[str] | None = None,
) -> Select[Any]:
    query = (
        select(Device, Site.village_code, Site.district_code, Site.kind)
        .join(Site, Site.id == Device.site_id)
        .order_by(Device.id)
    )
    flt = DeviceFilter.of(district=district, village=village, role=role, devices=devices)
    return flt.apply(query)


def _has_tags(device: Device, tags: Iterable[str] | None) -> bool:
    return has_tags(tags, device.tags)


def ansible_inventory(
    session: Session,
    *,
    district: str | None = None,
    village: str | None = None,
    role: str | None = None,
    tags: Iterable[str] | None = None,
    devices: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Ansible's JSON inventory (as ``--list`` prints it), grouped by district, village,
    role and tag. Host variables carry no secrets: key *paths* only."""
    ssh_profiles = {p.name: p for p in session.scalars(select(SshProfile))}
    groups: dict[str, set[str]] = defaultdict(set)
    hostvars: dict[str, dict[str, Any]] = {}
    query = _device_query(district=district, village=village, role=role, devices=devices)
    for device, village_code, district_code, site_kind in session.execute(query):
        if not _has_tags(device, tags):
            continue
        hv: dict[str, Any] = {
            "ansible_host": device.address,
            "ansible_port": device.ssh_port,
            "kentongan_device": device.id,
            "kentongan_role": device.role,
            "kentongan_site": device.site_id,
            "kentongan_site_kind": site_kind,
            "village_code": village_code,
            "district_code": district_code,
        }
        if device.device_type:
            hv["kentongan_device_type"] = device.device_type
        profile = ssh_profiles.get(device.ssh_profile or "")
        if profile is not None and not address_allowed(device.address, profile.allowed_networks):
            logger.warning("ansible inventory: %s at %s is outside the allowed_networks of SSH "
                           "profile %s; its credentials are left out", device.id,
                           device.address, profile.name)
            hv["kentongan_refused"] = (f"address outside the allowed_networks of SSH profile "
                                       f"{profile.name}")
            profile = None
        if profile is not None:
            hv["ansible_user"] = profile.username
            if profile.key_file:
                hv["ansible_ssh_private_key_file"] = profile.key_file
            if profile.known_hosts_file:
                hv["ansible_ssh_common_args"] = (
                    f"-o UserKnownHostsFile={profile.known_hosts_file} -o StrictHostKeyChecking=yes"
                )
        hostvars[device.id] = hv
        groups[group_name("district", district_code)].add(device.id)
        groups[group_name("village", village_code)].add(device.id)
        groups[group_name("role", device.role)].add(device.id)
        for tag in device.tags or ():
            groups[group_name("tag", tag)].add(device.id)
    result: dict[str, Any] = {
        name: {"hosts": sorted(hosts)} for name, hosts in sorted(groups.items())
    }
    result["all"] = {"children": sorted(["ungrouped", *groups])}
    result["ungrouped"] = {"hosts": []}
    result["_meta"] = {"hostvars": hostvars}
    return result


def prometheus_sd(
    session: Session,
    *,
    district: str | None = None,
    role: str | None = None,
    topology: Topology | None = None,
) -> list[dict[str, Any]]:
    """Prometheus http_sd target groups: one per device, target = the device id (the
    ``/probe`` pattern), labels from the inventory and the fibre tree."""
    topo = topology or Topology.load(session)
    groups = []
    query = _device_query(district=district, role=role)
    for device, village_code, district_code, site_kind in session.execute(query):
        if not device.enabled:
            continue
        links = topo.device_upstream_links(device.id)
        labels = {
            "device": device.id,
            "role": device.role,
            "site": device.site_id,
            "site_kind": site_kind,
            "village_code": village_code,
            "district_code": district_code,
            "uplink": links[0] if links else "",
            "__meta_kentongan_address": device.address,
            "__meta_kentongan_upstream_links": ",".join(links),
        }
        groups.append({"targets": [device.id], "labels": labels})
    return groups


def address_allowed(address: str, networks: Iterable[str] | None) -> bool:
    """True when a profile with ``allowed_networks`` = ``networks`` may be used for
    ``address`` (no networks: any address; a host name never matches networks)."""
    nets = list(networks or ())
    if not nets:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in nets:
        try:
            parsed = ipaddress.ip_network(net, strict=False)
        except ValueError:
            continue
        if ip.version == parsed.version and ip in parsed:
            return True
    return False


def _drop_empty(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None and v != [] and v != {}}


def _iso(value: Any) -> Any:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value is not None else None


def inventory_document(session: Session) -> dict[str, Any]:
    """The whole inventory (less regions) in the import format."""
    doc: dict[str, Any] = {"credentials": {"snmp": {}, "ssh": {}}}
    for p in session.scalars(select(SnmpProfile).order_by(SnmpProfile.name)):
        doc["credentials"]["snmp"][p.name] = _drop_empty(
            {
                "version": p.version,
                "community_env": p.community_env,
                "community_file": p.community_file,
                "user": p.user,
                "auth": p.auth,
                "auth_key_env": p.auth_key_env,
                "auth_key_file": p.auth_key_file,
                "priv": p.priv,
                "priv_key_env": p.priv_key_env,
                "priv_key_file": p.priv_key_file,
                "allowed_networks": p.allowed_networks or None,
            }
        )
    for s in session.scalars(select(SshProfile).order_by(SshProfile.name)):
        doc["credentials"]["ssh"][s.name] = _drop_empty(
            {
                "username": s.username,
                "key_file": s.key_file,
                "password_env": s.password_env,
                "password_file": s.password_file,
                "known_hosts_file": s.known_hosts_file,
                "allowed_networks": s.allowed_networks or None,
            }
        )
    facilities: dict[str, dict[str, Any]] = defaultdict(dict)
    for f in session.scalars(select(SiteFacility).order_by(SiteFacility.site_id)):
        facilities[f.site_id][f.facility] = _drop_empty(
            {
                "value": f.value,
                "attested_by": f.attested_by,
                "attested_at": _iso(f.attested_at),
                "evidence": f.evidence,
                "expires_at": _iso(f.expires_at),
            }
        )
    doc["sites"] = [
        _drop_empty(
            {
                "id": s.id,
                "name": s.name,
                "kind": s.kind,
                "village": s.village_code,
                "status": s.status if s.status != "active" else None,
                "lat": s.lat,
                "lon": s.lon,
                "address": s.address,
                "tags": s.tags,
                "facilities": facilities.get(s.id),
            }
        )
        for s in session.scalars(select(Site).order_by(Site.id))
    ]
    doc["devices"] = [
        _drop_empty(
            {
                "id": d.id,
                "site": d.site_id,
                "role": d.role,
                "address": d.address,
                "snmp": d.snmp_profile,
                "ssh": d.ssh_profile,
                "snmp_port": d.snmp_port if d.snmp_port != 161 else None,
                "ssh_port": d.ssh_port if d.ssh_port != 22 else None,
                "device_type": d.device_type,
                "vendor": d.vendor,
                "model": d.model,
                "parent": d.parent_device_id,
                "poll_interval": d.poll_interval,
                "enabled": None if d.enabled else False,
                "tags": d.tags,
            }
        )
        for d in session.scalars(select(Device).order_by(Device.id))
    ]
    doc["links"] = [
        _drop_empty(
            {
                "id": link.id,
                "medium": link.medium,
                "a": {"device": link.a_device, "interface": link.a_interface},
                "z": {"device": link.z_device, "interface": link.z_interface},
                "provider": link.provider,
                "capacity_bps": link.capacity_bps,
                "length_m": link.length_m,
                "uplink_of": link.uplink_of,
            }
        )
        for link in session.scalars(select(Link).order_by(Link.id))
    ]
    doc["maintenance"] = [
        _drop_empty(
            {
                "id": m.id,
                "scope": m.scope,
                "target": m.target,
                "starts_at": _iso(m.starts_at),
                "ends_at": _iso(m.ends_at),
                "weekdays": m.weekdays,
                "start_time": m.start_time,
                "duration_minutes": m.duration_minutes,
                "reason": m.reason,
            }
        )
        for m in session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id))
    ]
    for key in ("sites", "devices", "links", "maintenance"):
        if not doc[key]:
            del doc[key]
    if not doc["credentials"]["snmp"]:
        del doc["credentials"]["snmp"]
    if not doc["credentials"]["ssh"]:
        del doc["credentials"]["ssh"]
    if not doc["credentials"]:
        del doc["credentials"]
    return doc
