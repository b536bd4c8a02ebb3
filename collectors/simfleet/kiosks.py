"""Kiosk stand-ins for the demo: one real OpenSSH ``sshd`` per kiosk on its own loopback
address, each with its own kiosk root directory (named after the device id), a throw-away
host key, a throw-away client key and a known_hosts file naming every stand-in.

The kiosk-update playbook works against them as against a real kiosk (with
``kiosk_service_manager: script``: the app runs from ``ROOT/bin/kioskctl`` instead of
systemd); the SSH collector polls them. Example::

    with KioskStandIns(workdir / "kiosks", ["kiosk-glagah-1"]) as kiosks:
        kiosks.start_all()
        host = kiosks.hosts["kiosk-glagah-1"]      # address, port, root
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from collectors.simfleet import SimFleetError

logger = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"


def free_tcp_port(address: str) -> int:
    """A TCP port free on ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _wait_port(address: str, port: int, *, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class KioskHost:
    """One stand-in kiosk: where its sshd listens and where its kiosk root is."""

    device_id: str
    address: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether its sshd runs."""
        return self.proc is not None and self.proc.poll() is None

    def app_pid(self) -> int | None:
        """The pid of the kiosk app the playbook started, if it runs."""
        try:
            pid = int((self.root / "run" / "app.pid").read_text().strip())
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        return None if state in ("Z", "X") else pid


class KioskStandIns:
    """sshd stand-ins for ``device_ids`` under ``base`` (a directory they own).

    Addresses are ``127.0.3.1``, ``127.0.3.2``, … in the order given; every sshd gets a
    free port. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, base: Path, device_ids: list[str], *, subnet: str = "127.0.3") -> None:
        if not Path(SSHD).exists():
            raise SimFleetError(f"{SSHD} missing: run scripts/install-system-deps.sh")
        self.base = base.resolve()
        self.base.mkdir(parents=True, exist_ok=True)
        self.user = getpass.getuser()
        self.host_key = self.base / "ssh_host_ed25519_key"
        self.client_key = self.base / "id_ed25519"
        self.known_hosts = self.base / "known_hosts"
        self.authorized_keys = self.base / "authorized_keys"
        # SSH control sockets need a short path (a Unix socket path is at most 108 bytes):
        # a directory of their own under /tmp, whatever the demo's directory is.
        self.control_dir = Path(tempfile.mkdtemp(prefix="ktg-cp-"))
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C",
                                "kentongan-demo", "-f", str(key)], check=True)
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        host_pub = " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])
        self.hosts: dict[str, KioskHost] = {}
        lines = []
        for i, device_id in enumerate(device_ids, start=1):
            address = f"{subnet}.{i}"
            port = free_tcp_port(address)
            root = self.base / "roots" / device_id
            root.mkdir(parents=True, exist_ok=True)
            self.hosts[device_id] = KioskHost(device_id, address, port, root)
            lines.append(f"[{address}]:{port} {host_pub}\n")
        self.known_hosts.write_text("".join(lines))
        self.app_port = free_tcp_port(f"{subnet}.1")
        self.python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable

    @property
    def kiosk_root_pattern(self) -> str:
        """The SSH collector's ``kiosk_root`` setting for these kiosks."""
        return str(self.base / "roots" / "{device_id}")

    def extravars(self) -> dict[str, object]:
        """Playbook variables that make these hosts kiosks without systemd."""
        return {
            "ansible_python_interpreter": self.python,
            "kiosk_root": str(self.base / "roots") + "/{{ inventory_hostname }}",
            "kiosk_service_manager": "script",
            "kiosk_manage_system": False,
            "kiosk_app_listen": "{{ ansible_host }}",
            "kiosk_app_port": self.app_port,
            "kiosk_release_health_retries": 5,
            "kiosk_release_health_delay": 1,
        }

    def envvars(self) -> dict[str, str]:
        """Environment for Ansible: control sockets and temporary files in ``base``."""
        tmp = self.base / "ansible-tmp"
        tmp.mkdir(exist_ok=True)
        return {
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "local"),
            "ANSIBLE_REMOTE_TEMP": str(tmp / "remote"),
        }

    def start(self, device_id: str) -> None:
        """Start the kiosk's sshd (and its app, if a release is installed)."""
        host = self._host(device_id)
        if not host.running:
            config = self.base / f"sshd-{device_id}.conf"
            config.write_text(
                f"ListenAddress {host.address}:{host.port}\n"
                f"HostKey {self.host_key}\n"
                f"PidFile {self.base / f'sshd-{device_id}.pid'}\n"
                f"AuthorizedKeysFile {self.authorized_keys}\n"
                "PermitRootLogin prohibit-password\n"
                "PasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\n"
                "PubkeyAuthentication yes\n"
                "UsePAM no\n"
                "StrictModes no\n"
                "MaxStartups 100:30:200\n"
                "LogLevel ERROR\n"
                "Subsystem sftp internal-sftp\n"
            )
            host.proc = subprocess.Popen(
                [SSHD, "-D", "-f", str(config), "-E", str(self.base / f"sshd-{device_id}.log")],
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
            if not _wait_port(host.address, host.port):
                self._stop_sshd(host)
                raise SimFleetError(f"sshd of {device_id} did not listen on "
                                    f"{host.address}:{host.port}")
        kioskctl = host.root / "bin" / "kioskctl"
        if kioskctl.exists() and host.app_pid() is None:
            subprocess.run([str(kioskctl), "ensure"], capture_output=True, timeout=30,
                           check=False)

    def stop(self, device_id: str) -> None:
        """Switch the kiosk off: its app and its sshd stop."""
        host = self._host(device_id)
        pid = host.app_pid()
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        self._stop_sshd(host)

    def unreachable(self, device_id: str) -> None:
        """Cut the kiosk off the network: its sshd stops, its app keeps running."""
        self._stop_sshd(self._host(device_id))

    def start_all(self) -> None:
        """Start every stand-in."""
        for device_id in self.hosts:
            self.start(device_id)

    def close(self) -> None:
        """Stop every app, SSH control master and sshd."""
        for sock in self.control_dir.iterdir():
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                           capture_output=True, timeout=10, check=False)
        for device_id in self.hosts:
            self.stop(device_id)
        shutil.rmtree(self.control_dir, ignore_errors=True)
        roots = str(self.base / "roots")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if roots in cmdline:
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)

    def _host(self, device_id: str) -> KioskHost:
        try:
            return self.hosts[device_id]
        except KeyError:
            raise SimFleetError(f"{device_id!r} is not a kiosk stand-in; stand-ins: "
                                f"{', '.join(self.hosts)}") from None

    @staticmethod
    def _stop_sshd(host: KioskHost) -> None:
        if host.proc is not None:
            host.proc.terminate()
            try:
                host.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                host.proc.kill()
                host.proc.wait()
            host.proc = None

    def __enter__(self) -> KioskStandIns:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
