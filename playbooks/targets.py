"""The rollout's host list, read from the inventory, checked, and turned into an Ansible
JSON inventory (``_meta.hostvars``) with the per-host connection variables."""

from __future__ import annotations

import ipaddress
import logging
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.choices import DeviceRole
from inventory.export import address_allowed
from inventory.models import Device, Site, SshProfile
from inventory.query import DeviceFilter, has_tags
from playbooks.errors import TargetError

logger = logging.getLogger(__name__)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+@-]*$")
_CODE = re.compile(r"^[0-9.]{1,16}$")


@dataclass(frozen=True, slots=True)
class TargetFilter:
    """Which kiosks a rollout targets; every given criterion must hold."""

    district: str | None = None
    village: str | None = None
    role: str = DeviceRole.KIOSK
    tags: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()

    def as_params(self) -> dict[str, Any]:
        """JSON-ready form, stored in the rollout's params."""
        return {
            "district": self.district,
            "village": self.village,
            "role": self.role,
            "tags": list(self.tags),
            "devices": list(self.devices),
        }

    def describe(self) -> str:
        """Human words for the filter, for error messages."""
        parts = [f"role={self.role}"]
        if self.district:
            parts.append(f"district={self.district}")
        if self.village:
            parts.append(f"village={self.village}")
        if self.tags:
            parts.append("tags=" + ",".join(self.tags))
        if self.devices:
            parts.append("devices=" + ",".join(self.devices))
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class KioskTarget:
    """One kiosk as Ansible will reach it."""

    device_id: str
    address: str
    port: int
    village_code: str
    district_code: str
    username: str = "root"
    key_file: str | None = None
    known_hosts_file: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    def hostvars(self) -> dict[str, Any]:
        """The Ansible host variables of this kiosk (no secrets: the key is a path)."""
        hv: dict[str, Any] = {
            "ansible_host": self.address,
            "ansible_port": self.port,
            "ansible_user": self.username,
            "kiosk_village_code": self.village_code,
            "kiosk_district_code": self.district_code,
        }
        if self.username != "root":
            hv["ansible_become"] = True
        if self.key_file:
            hv["ansible_ssh_private_key_file"] = self.key_file
        if self.known_hosts_file:
            hv["ansible_ssh_common_args"] = (
                f"-o UserKnownHostsFile={shlex.quote(self.known_hosts_file)} "
                "-o StrictHostKeyChecking=yes"
            )
        return hv


def _check_address(device_id: str, address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        if _HOSTNAME.match(address):
            return address
    raise TargetError(
        f"address {address!r} is neither an IP address nor a host name; "
        "fix the device in the inventory and import it again",
        host=device_id,
    )


def _check(device_id: str, what: str, value: str | None, pattern: re.Pattern[str]) -> None:
    if value is not None and not pattern.match(value):
        raise TargetError(
            f"{what} {value!r} contains characters Kentongan will not hand to Ansible; "
            "fix it in the inventory",
            host=device_id,
        )


def target_from_rows(device: Device, site: Site, profile: SshProfile | None) -> KioskTarget:
    """Build and check one target; unsafe inventory strings raise :class:`TargetError`."""
    _check(device.id, "device id", device.id, _SLUG)
    address = _check_address(device.id, device.address)
    if not 1 <= int(device.ssh_port) <= 65535:
        raise TargetError(f"ssh_port {device.ssh_port} out of range", host=device.id)
    _check(device.id, "village code", site.village_code, _CODE)
    _check(device.id, "district code", site.district_code, _CODE)
    if profile is not None and not address_allowed(address, profile.allowed_networks):
        logger.warning("rollout target %s refused: %s is outside the allowed_networks of SSH "
                       "profile %s", device.id, address, profile.name)
        raise TargetError(
            f"the address is outside the allowed_networks of SSH profile {profile.name!r}; "
            "fix the device's address or the profile", host=device.id)
    username = profile.username if profile else "root"
    _check(device.id, "SSH username", username, _USER)
    key_file = profile.key_file if profile else None
    known_hosts = profile.known_hosts_file if profile else None
    _check(device.id, "SSH key file", key_file, _PATH)
    _check(device.id, "known_hosts file", known_hosts, _PATH)
    return KioskTarget(
        device_id=device.id,
        address=address,
        port=int(device.ssh_port),
        village_code=site.village_code,
        district_code=site.district_code,
        username=username,
        key_file=key_file,
        known_hosts_file=known_hosts,
        tags=tuple(device.tags or ()),
    )


def select_targets(session: Session, flt: TargetFilter) -> list[KioskTarget]:
    """The enabled devices matching ``flt``, checked, ordered by district, village, id.

    Raises :class:`TargetError` when none match, when an explicitly named device does not
    exist, or when any device's data is unsafe (nothing is started then).
    """
    stmt = (
        select(Device, Site, SshProfile)
        .join(Site, Device.site_id == Site.id)
        .outerjoin(SshProfile, Device.ssh_profile == SshProfile.name)
        .order_by(Site.district_code, Site.village_code, Device.id)
    )
    devices = DeviceFilter.of(district=flt.district, village=flt.village, role=flt.role,
                              devices=flt.devices, enabled_only=True)
    rows = session.execute(devices.apply(stmt)).all()
    rows = [r for r in rows if has_tags(flt.tags, r[0].tags, r[1].tags)]
    if flt.devices:
        missing = sorted(set(flt.devices) - {r[0].id for r in rows})
        if missing:
            raise TargetError(
                f"no enabled {flt.role} device named {', '.join(missing)}; "
                "check the ids with `kentongan inventory export --format yaml`"
            )
    if not rows:
        raise TargetError(
            f"no enabled device matches {flt.describe()}: nothing to roll out; "
            "widen the filter or import the kiosks first"
        )
    return [target_from_rows(device, site, profile) for device, site, profile in rows]


def ansible_inventory(targets: Iterable[KioskTarget], *, group: str = "kiosks") -> dict[str, Any]:
    """Ansible's JSON inventory for ``targets``: one group plus ``_meta.hostvars``."""
    hosts = list(targets)
    return {
        "all": {"children": [group]},
        group: {"hosts": [t.device_id for t in hosts]},
        "_meta": {"hostvars": {t.device_id: t.hostvars() for t in hosts}},
    }


def targets_by_id(targets: Sequence[KioskTarget]) -> dict[str, KioskTarget]:
    """Index targets by device id."""
    return {t.device_id: t for t in targets}
