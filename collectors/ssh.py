"""The SSH collector (netmiko): kiosks (``linux``) and network devices without SNMP.

* What to run is data: :data:`KIOSK_PROBES` for kiosks, :data:`NETWORK_COMMANDS` per netmiko
  platform, parsed with TextFSM templates from ntc-templates.
* Host keys are checked by default: netmiko ``ssh_strict=True`` (paramiko's
  ``RejectPolicy``) with the profile's known_hosts file (or the configured default, else
  the user's ``~/.ssh/known_hosts``). An unknown or changed host key is a failed poll.
* Netmiko blocks, so each poll runs in a bounded :class:`ThreadPoolExecutor`; every phase
  has a timeout (TCP connect, banner, auth, reads) and an outer ``asyncio.wait_for`` caps the
  whole poll, so a server that accepts and stalls costs one worker for a bounded time and
  never the poller.
* Failures come back as ``Observation(ok=False, reason=...)`` with one log line:
  ``connection refused``, ``timeout: …``, ``auth failed``, ``host key mismatch``,
  ``unknown host key``.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import paramiko
from netmiko import ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadTimeout,
)
from ntc_templates.parse import parse_output

from collectors.base import InterfaceSample, KioskSample, Observation, Target
from core.timeutil import utcnow

logger = logging.getLogger(__name__)
# paramiko logs a traceback from its transport thread for every failed handshake; the
# collector logs one line per failed poll instead.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class KioskProbe:
    """One shell command run on a kiosk; ``$R`` is the kiosk root and ``$S`` the service
    name (set, shell-quoted, from the collector's settings)."""

    key: str
    command: str


#: What a kiosk is asked, in one round trip (sections separated by ``@@key`` markers).
KIOSK_PROBES: tuple[KioskProbe, ...] = (
    KioskProbe("version", 'cat "$R/current/VERSION" 2>/dev/null'),
    KioskProbe(
        "active",
        'if [ -d /run/systemd/system ]; then systemctl is-active "$S" 2>/dev/null; '
        'else p=$(cat "$R/run/app.pid" 2>/dev/null); '
        'if [ -n "$p" ] && [ -d "/proc/$p" ]; then echo active; else echo inactive; fi; fi',
    ),
    KioskProbe("df", "df -PB1 / 2>/dev/null"),
    KioskProbe("uptime", "cat /proc/uptime"),
)

#: Commands per netmiko platform for network devices polled over SSH (TextFSM-parsed).
NETWORK_COMMANDS: dict[str, tuple[str, ...]] = {
    "mikrotik_routeros": (
        "/system identity print",
        "/system resource print",
        "/interface print terse without-paging",
    ),
}


def kiosk_script(root: str, service: str, probes: Sequence[KioskProbe] = KIOSK_PROBES) -> str:
    """The one-line shell command that runs every probe between ``@@key`` markers."""
    parts = [f"R={shlex.quote(root)}", f"S={shlex.quote(service)}"]
    parts += [f"echo @@{p.key}; {p.command}" for p in probes]
    return "; ".join([*parts, "echo @@end"])


def split_sections(output: str) -> dict[str, str]:
    """``@@key`` sections of a kiosk script's output."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("@@") and " " not in stripped:
            key = stripped[2:]
            if key == "end":
                break
            current = sections.setdefault(key, [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def parse_kiosk(output: str, *, now: Any = None) -> KioskSample:
    """Turn a kiosk script's output into a :class:`KioskSample` (missing parts are None)."""
    now = now or utcnow()
    sec = split_sections(output)
    sample = KioskSample()
    version = sec.get("version", "").splitlines()
    sample.app_version = version[0].strip() if version and version[0].strip() else None
    active = sec.get("active", "").strip()
    sample.app_active = {"active": True}.get(active, False if active else None)
    df_lines = [ln for ln in sec.get("df", "").splitlines() if ln.strip()]
    if len(df_lines) >= 2:
        fields = df_lines[-1].split()
        if len(fields) >= 4 and fields[1].isdigit() and fields[3].isdigit():
            sample.disk_total_bytes = int(fields[1])
            sample.disk_free_bytes = int(fields[3])
    up = sec.get("uptime", "").split()
    if up:
        try:
            sample.uptime_seconds = float(up[0])
            sample.last_boot = now - timedelta(seconds=sample.uptime_seconds)
        except ValueError:
            pass
    return sample


_ROS_UPTIME = (("uptime_weeks", 604800), ("uptime_days", 86400), ("uptime_hours", 3600),
               ("uptime_minutes", 60), ("uptime_seconds", 1))


def parse_network(platform: str, outputs: dict[str, str]) -> dict[str, Any]:
    """Parse a network device's command outputs with ntc-templates.

    Returns a dict with ``sys_name``, ``sys_descr``, ``sys_uptime_ticks`` and
    ``interfaces`` (list of :class:`InterfaceSample`) where the platform has templates.
    """
    result: dict[str, Any] = {"interfaces": []}
    if platform == "mikrotik_routeros":
        ident = parse_output(platform=platform, command="/system identity print",
                             data=outputs.get("/system identity print", ""))
        if ident:
            result["sys_name"] = ident[0].get("name")
        res = parse_output(platform=platform, command="/system resource print",
                           data=outputs.get("/system resource print", ""))
        if res:
            row = res[0]
            seconds = sum(int(row.get(k) or 0) * f for k, f in _ROS_UPTIME)
            result["sys_uptime_ticks"] = seconds * 100
            board = row.get("board_name") or row.get("platform") or "RouterOS"
            result["sys_descr"] = f"RouterOS {row.get('version', '')} {board}".strip()
        rows = parse_output(platform=platform, command="/interface print terse without-paging",
                            data=outputs.get("/interface print terse without-paging", ""))
        for row in rows:
            status = row.get("status") or ""
            result["interfaces"].append(
                InterfaceSample(
                    index=int(row["id"]) + 1,
                    name=row.get("name"),
                    alias=row.get("comment") or None,
                    admin_up=status != "X",
                    oper_up=status == "R",
                )
            )
    return result


def classify(exc: BaseException) -> str:
    """A short, stable reason for a failed SSH poll."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(e) for e in chain)
    for e in chain:
        if isinstance(e, paramiko.BadHostKeyException):
            return "host key mismatch"
        if isinstance(e, (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError)):
            return "connection refused"
    if "not found in known_hosts" in text:
        return "unknown host key"
    if "does not match" in text and "Host key" in text:
        return "host key mismatch"
    if any(isinstance(e, NetmikoAuthenticationException | paramiko.AuthenticationException)
           for e in chain):
        return "auth failed"
    if "Error reading SSH protocol banner" in text or "No existing session" in text:
        return "timeout: no SSH banner"
    if any(isinstance(e, ReadTimeout) for e in chain):
        return "timeout: command output did not finish"
    if any(isinstance(e, socket.timeout | TimeoutError) for e in chain):
        return "timeout: TCP connect"
    if "Connection refused" in text or "Unable to connect" in text:
        return "connection refused"
    if isinstance(exc, NetmikoTimeoutException):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
        return f"timeout: {first}"[:200]
    return f"ssh error: {type(exc).__name__}"


_HINTS = {
    "unknown host key": " (check the key, then add it to the profile's known_hosts file: "
    "ssh-keyscan -p PORT ADDRESS >> KNOWN_HOSTS)",
    "host key mismatch": " (the host key changed: a replaced kiosk or an impostor; verify "
    "before updating known_hosts)",
    "auth failed": " (check the profile's username and key; is the public key in "
    "~/.ssh/authorized_keys on the device?)",
}


class SshCollector:
    """Polls kiosks and SNMP-less network devices over SSH (the ``Collector`` protocol).

    Args:
        workers: threads for netmiko sessions (``settings.ssh_workers``).
        known_hosts: default known_hosts file when a profile names none; None means the
            user's ``~/.ssh/known_hosts``. Host keys are always checked.
        timeout: seconds for each connection phase (TCP connect, SSH banner, auth): what a
            server that accepts and stalls costs.
        read_timeout: seconds for the session setup and each command's output.
        deadline: outer limit of one poll (default ``3 × timeout + 2 × read_timeout``).
        kiosk_root: where the kiosk app lives (``{device_id}`` is filled in); the
            rollout playbooks use ``/opt/kiosk``.
        kiosk_service: systemd unit of the kiosk app.
        connect: the function that opens a session (netmiko's ``ConnectHandler``).
    """

    protocol = "ssh"

    def __init__(
        self,
        *,
        workers: int = 16,
        known_hosts: str | None = None,
        timeout: float = 5.0,
        read_timeout: float = 15.0,
        deadline: float | None = None,
        kiosk_root: str = "/opt/kiosk",
        kiosk_service: str = "kiosk-app",
        connect: Callable[..., Any] = ConnectHandler,
    ) -> None:
        self.workers = max(1, workers)
        self.known_hosts = known_hosts
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.deadline = deadline or 3 * timeout + 2 * read_timeout
        self.kiosk_root = kiosk_root
        self.kiosk_service = kiosk_service
        self._connect = connect
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                            thread_name_prefix="kentongan-ssh")
        return self._pool

    async def collect(self, target: Target) -> Observation:
        """Poll ``target`` once in the thread pool; never raises for device failures."""
        started = utcnow()
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor(), self._collect_blocking, target)
        try:
            return await asyncio.wait_for(future, self.deadline)
        except TimeoutError:
            reason = f"timeout: ssh poll did not finish within {self.deadline:g} s"
            logger.warning("ssh %s (%s:%d): %s", target.device_id, target.address,
                           target.ssh_port, reason)
            return Observation(device_id=target.device_id, protocol="ssh", ok=False,
                               started_at=started, duration_seconds=time.perf_counter() - t0,
                               reason=reason)

    def connection_params(self, target: Target) -> dict[str, Any]:
        """Netmiko's keyword arguments for ``target`` (contains the password, if any:
        never log it)."""
        creds = target.ssh
        if creds is None:
            raise ValueError(f"{target.device_id}: no SSH credentials")
        known_hosts = creds.known_hosts_file or self.known_hosts
        t = self.timeout
        return {
            "device_type": target.device_type or "linux",
            "host": target.address,
            "port": target.ssh_port,
            "username": creds.username,
            "password": creds.password.get() if creds.password else "",
            "use_keys": bool(creds.key_file),
            "key_file": creds.key_file,
            "allow_agent": False,
            "ssh_strict": True,
            "system_host_keys": known_hosts is None,
            "alt_host_keys": known_hosts is not None,
            "alt_key_file": known_hosts or "",
            "conn_timeout": t,
            "banner_timeout": t,
            "auth_timeout": t,
            "blocking_timeout": self.read_timeout,
            "timeout": self.read_timeout,
            "read_timeout_override": self.read_timeout,
            "session_timeout": self.read_timeout,
            "fast_cli": True,
            "verbose": False,
        }

    def _collect_blocking(self, target: Target) -> Observation:
        started = utcnow()
        t0 = time.perf_counter()
        obs = Observation(device_id=target.device_id, protocol="ssh", ok=False,
                          started_at=started, duration_seconds=0.0)
        conn = None
        if target.ssh is None:
            obs.reason = "configuration error: no SSH credentials profile"
            obs.extra["configuration_error"] = True
            logger.error("ssh %s: %s", target.device_id, obs.reason)
            return obs
        try:
            conn = self._connect(**self.connection_params(target))
            platform = target.device_type or "linux"
            if platform == "linux":
                root = self.kiosk_root.format(device_id=target.device_id)
                output = conn.send_command(kiosk_script(root, self.kiosk_service),
                                           read_timeout=self.read_timeout)
                obs.kiosk = parse_kiosk(output, now=started)
                if obs.kiosk.uptime_seconds is not None:
                    obs.sys_uptime_ticks = int(obs.kiosk.uptime_seconds * 100)
            else:
                commands = NETWORK_COMMANDS.get(platform, ())
                outputs = {
                    c: conn.send_command(c, read_timeout=self.read_timeout) for c in commands
                }
                parsed = parse_network(platform, outputs)
                obs.sys_name = parsed.get("sys_name")
                obs.sys_descr = parsed.get("sys_descr")
                obs.sys_uptime_ticks = parsed.get("sys_uptime_ticks")
                obs.interfaces = parsed["interfaces"]
            obs.ok = True
        except Exception as exc:  # every device-side failure becomes a result
            obs.reason = classify(exc)
            obs.kiosk = None
            logger.warning("ssh %s (%s:%d): %s%s", target.device_id, target.address,
                           target.ssh_port, obs.reason, _HINTS.get(obs.reason, ""))
            logger.debug("ssh %s: %s: %s", target.device_id, type(exc).__name__,
                         str(exc).splitlines()[:1])
        finally:
            if conn is not None:
                try:
                    conn.disconnect()
                except Exception:
                    logger.debug("ssh %s: disconnect failed", target.device_id)
        obs.duration_seconds = time.perf_counter() - t0
        return obs

    async def aclose(self) -> None:
        """Shut the thread pool down (running sessions finish on their own timeouts)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
