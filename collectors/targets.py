"""Poll targets from the inventory: device + site + credential profile references.

:func:`load_entries` reads the inventory (no secrets: profiles only name environment
variables or files). :meth:`TargetEntry.resolve` reads those secrets at poll time into
:class:`~collectors.base.Secret` values, raising :class:`CredentialError` (whose message
names the device, profile and variable, never the value) when one is missing.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.base import CollectorError, Secret, SnmpCredentials, SshCredentials, Target
from inventory.models import Device, Site, SnmpProfile, SshProfile

logger = logging.getLogger(__name__)


class CredentialError(CollectorError):
    """A credentials reference cannot be resolved (unset variable, unreadable file…)."""

    def __init__(self, message: str, *, device: str | None = None, profile: str | None = None):
        super().__init__(f"profile {profile}: {message}" if profile else message, device=device)
        self.profile = profile


class AddressNotAllowed(CredentialError):
    """The device's address is outside the networks its credential profile may be sent to."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str] | None) -> tuple[Network, ...]:
    """``allowed_networks`` as network objects (invalid entries raise ``ValueError``)."""
    return tuple(ipaddress.ip_network(v, strict=False) for v in values or ())


def check_allowed(address: str, networks: Sequence[Network], *, device: str,
                  profile: str) -> None:
    """Refuse to send ``profile``'s secret to ``address`` when it is outside ``networks``.

    An empty ``networks`` allows every address (a profile without ``allowed_networks``).
    A host name is refused when networks are set: its address could change between this
    check and the connection.

    Raises:
        AddressNotAllowed: naming the device and profile (the log also has the address).
    """
    if not networks:
        return
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        logger.warning("refused %s: address %r is a host name, profile %s allows only %s",
                       device, address, profile, ", ".join(map(str, networks)))
        raise AddressNotAllowed(
            "the device's address is a host name; a profile with allowed_networks is only "
            "sent to IP addresses inside them", device=device, profile=profile) from None
    if not any(ip.version == n.version and ip in n for n in networks):
        logger.warning("refused %s: address %s is outside the allowed_networks of profile "
                       "%s (%s)", device, address, profile, ", ".join(map(str, networks)))
        raise AddressNotAllowed(
            f"the device's address is outside the profile's allowed_networks "
            f"({', '.join(map(str, networks))}); fix the address or the profile",
            device=device, profile=profile)


def read_secret(
    *, env: str | None, file: str | None, what: str, device: str, profile: str
) -> Secret | None:
    """Read a secret from the environment variable ``env`` or the file ``file``.

    Returns None when neither is configured. Raises :class:`CredentialError` when the
    configured variable is unset or the file cannot be read; the value never appears in
    the message.
    """
    if env:
        value = os.environ.get(env)
        if value is None:
            raise CredentialError(
                f"{what}: environment variable {env} is not set (export it before polling)",
                device=device,
                profile=profile,
            )
        return Secret(value)
    if file:
        try:
            return Secret(Path(file).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise CredentialError(
                f"{what}: cannot read {file} ({exc.strerror or type(exc).__name__})",
                device=device,
                profile=profile,
            ) from None
    return None


@dataclass(frozen=True, slots=True)
class SnmpRef:
    """An SNMP profile as the inventory holds it (references only)."""

    name: str
    version: str
    community_env: str | None
    community_file: str | None
    user: str | None
    auth: str | None
    auth_key_env: str | None
    auth_key_file: str | None
    priv: str | None
    priv_key_env: str | None
    priv_key_file: str | None
    allowed_networks: tuple[Network, ...] = ()

    def resolve(self, device: str) -> SnmpCredentials:
        """Read the secrets now."""
        if self.version == "3":
            return SnmpCredentials(
                version="3",
                user=self.user,
                auth=self.auth,
                auth_key=read_secret(env=self.auth_key_env, file=self.auth_key_file,
                                     what="auth key", device=device, profile=self.name),
                priv=self.priv,
                priv_key=read_secret(env=self.priv_key_env, file=self.priv_key_file,
                                     what="priv key", device=device, profile=self.name),
            )
        community = read_secret(env=self.community_env, file=self.community_file,
                                what="community", device=device, profile=self.name)
        if community is None:
            raise CredentialError("no community_env or community_file", device=device,
                                  profile=self.name)
        return SnmpCredentials(version=self.version, community=community)


@dataclass(frozen=True, slots=True)
class SshRef:
    """An SSH profile as the inventory holds it (references only)."""

    name: str
    username: str
    key_file: str | None
    password_env: str | None
    password_file: str | None
    known_hosts_file: str | None
    allowed_networks: tuple[Network, ...] = ()

    def resolve(self, device: str, *, default_known_hosts: str | None) -> SshCredentials:
        """Read the password (if any) now and check that the key file exists."""
        if self.key_file and not Path(self.key_file).is_file():
            raise CredentialError(f"key file {self.key_file} does not exist", device=device,
                                  profile=self.name)
        password = read_secret(env=self.password_env, file=self.password_file,
                               what="password", device=device, profile=self.name)
        if password is None and not self.key_file:
            raise CredentialError("neither key_file nor password_env/password_file is set",
                                  device=device, profile=self.name)
        return SshCredentials(
            username=self.username,
            key_file=self.key_file,
            password=password,
            known_hosts_file=self.known_hosts_file or default_known_hosts,
        )


@dataclass(frozen=True, slots=True)
class TargetEntry:
    """One device to poll: what, how often, with which protocol; secrets unresolved."""

    device_id: str
    role: str
    protocol: str  # "snmp" | "ssh" | "" (no credentials: a configuration error)
    interval_seconds: float
    address: str
    snmp_port: int
    ssh_port: int
    device_type: str | None
    site_id: str
    village_code: str | None
    district_code: str | None
    snmp: SnmpRef | None
    ssh: SshRef | None
    timeout: float
    retries: int

    def resolve(self, *, default_known_hosts: str | None = None) -> Target:
        """The :class:`Target` with secrets read now; :class:`CredentialError` if not."""
        if not self.protocol:
            raise CredentialError("no snmp or ssh credentials profile", device=self.device_id)
        ref = self.snmp if self.protocol == "snmp" else self.ssh
        if ref is not None:
            check_allowed(self.address, ref.allowed_networks, device=self.device_id,
                          profile=ref.name)
        snmp = self.snmp.resolve(self.device_id) if self.protocol == "snmp" and self.snmp else None
        ssh = (
            self.ssh.resolve(self.device_id, default_known_hosts=default_known_hosts)
            if self.protocol == "ssh" and self.ssh
            else None
        )
        return Target(
            device_id=self.device_id,
            role=self.role,
            address=self.address,
            snmp_port=self.snmp_port,
            ssh_port=self.ssh_port,
            device_type=self.device_type,
            snmp=snmp,
            ssh=ssh,
            site_id=self.site_id,
            village_code=self.village_code,
            district_code=self.district_code,
            timeout=self.timeout,
            retries=self.retries,
        )


def _networks(values: Sequence[str] | None, profile: str) -> tuple[Network, ...]:
    """The stored networks; an entry that does not parse (only possible by editing the
    database by hand) becomes an empty network that matches nothing (refuse, never widen)."""
    out: list[Network] = []
    for value in values or ():
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            logger.error("profile %s: allowed_networks entry %r is not a network; "
                         "nothing matches it", profile, value)
            out.append(ipaddress.ip_network("0.0.0.0/32"))
    return tuple(out)


def choose_protocol(role: str, *, has_snmp: bool, has_ssh: bool) -> str:
    """Kiosks with SSH are polled over SSH (app version, service); others prefer SNMP."""
    if role == "kiosk" and has_ssh:
        return "ssh"
    if has_snmp:
        return "snmp"
    if has_ssh:
        return "ssh"
    return ""


def load_entries(
    session: Session,
    *,
    default_interval: float = 60.0,
    role_intervals: Mapping[str, float] | None = None,
    timeout: float = 2.0,
    retries: int = 1,
    device_ids: list[str] | None = None,
) -> list[TargetEntry]:
    """Every enabled device of the inventory as a :class:`TargetEntry`, sorted by id.

    The interval is the device's ``poll_interval``, else its role's entry in
    ``role_intervals``, else ``default_interval``.
    """
    snmp = {
        p.name: SnmpRef(
            name=p.name, version=p.version, community_env=p.community_env,
            community_file=p.community_file, user=p.user, auth=p.auth,
            auth_key_env=p.auth_key_env, auth_key_file=p.auth_key_file, priv=p.priv,
            priv_key_env=p.priv_key_env, priv_key_file=p.priv_key_file,
            allowed_networks=_networks(p.allowed_networks, p.name),
        )
        for p in session.scalars(select(SnmpProfile))
    }
    ssh = {
        p.name: SshRef(
            name=p.name, username=p.username, key_file=p.key_file,
            password_env=p.password_env, password_file=p.password_file,
            known_hosts_file=p.known_hosts_file,
            allowed_networks=_networks(p.allowed_networks, p.name),
        )
        for p in session.scalars(select(SshProfile))
    }
    stmt = (
        select(Device, Site.village_code, Site.district_code)
        .join(Site, Device.site_id == Site.id)
        .where(Device.enabled.is_(True))
        .order_by(Device.id)
    )
    if device_ids is not None:
        stmt = stmt.where(Device.id.in_(device_ids))
    roles = dict(role_intervals or {})
    entries = []
    for device, village, district in session.execute(stmt):
        snmp_ref = snmp.get(device.snmp_profile) if device.snmp_profile else None
        ssh_ref = ssh.get(device.ssh_profile) if device.ssh_profile else None
        interval = device.poll_interval or roles.get(device.role) or default_interval
        entries.append(
            TargetEntry(
                device_id=device.id,
                role=device.role,
                protocol=choose_protocol(device.role, has_snmp=snmp_ref is not None,
                                         has_ssh=ssh_ref is not None),
                interval_seconds=float(interval),
                address=device.address,
                snmp_port=device.snmp_port or 161,
                ssh_port=device.ssh_port or 22,
                device_type=device.device_type or ("linux" if device.role == "kiosk" else None),
                site_id=device.site_id,
                village_code=village,
                district_code=district,
                snmp=snmp_ref,
                ssh=ssh_ref,
                timeout=timeout,
                retries=retries,
            )
        )
    return entries
